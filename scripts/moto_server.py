"""moto's server (SQS, Secrets Manager) for the local stack, with one speed fix that changes no
answer.

moto builds a queue's whole attribute dictionary each time it reads one attribute, and its
approximate message counts scan every message in the queue (with two clock reads per message).
SendMessage reads `ContentBasedDeduplication` that way three or four times per message, so a send
to a FIFO queue holding 1,000 messages costs about 0.1 s of moto's CPU and a batch of ten about
1 s: the local stack, not the product, set the pace of a first provisioning of 1,000 customers
(see README, "Benchmarks"). Here a queue's `attributes` is a mapping with the same keys and the
same values, computed when read, so reading one attribute costs one attribute.

Usage: python scripts/moto_server.py [moto_server's arguments]
       python scripts/moto_server.py --self-check   (the mapping equals moto's dictionary)
"""

import json
import sys
from collections.abc import Mapping

from moto.core.utils import camelcase_to_underscores
from moto.sqs.models import Queue

_moto_attributes = Queue.attributes.fget


class QueueAttributes(Mapping):
    """`Queue.attributes` as moto computes it (moto 5.2.5, moto/sqs/models.py), one key at a time."""

    def __init__(self, queue):
        self._queue = queue

    def _keys(self):
        queue = self._queue
        keys = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            keys += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            keys += queue.KMS_ATTRIBUTES
        if queue.policy:
            keys.append("Policy")
        if queue.redrive_policy:
            keys.append("RedrivePolicy")
        return list(dict.fromkeys(keys))

    def __getitem__(self, key):
        if key not in self._keys():
            raise KeyError(key)
        queue = self._queue
        if key == "RedrivePolicy" and queue.redrive_policy:
            value = json.dumps(queue.redrive_policy)
        else:
            value = getattr(queue, camelcase_to_underscores(key))
        if isinstance(value, bool):
            value = str(value).lower()
        return value

    def __iter__(self):
        return iter(self._keys())

    def __len__(self):
        return len(self._keys())


Queue.attributes = property(lambda queue: QueueAttributes(queue))


def self_check():
    """Exits non-zero when the mapping differs from moto's own dictionary for the queues the
    product creates (FIFO with a redrive policy, its FIFO DLQ, a standard queue)."""
    from moto.sqs.models import sqs_backends

    backend = sqs_backends["123456789012"]["us-east-1"]
    dlq = backend.create_queue("check-dlq.fifo", FifoQueue="true")
    queues = [
        dlq,
        backend.create_queue(
            "check.fifo",
            FifoQueue="true",
            VisibilityTimeout="120",
            RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.queue_arn, "maxReceiveCount": 5}),
        ),
        backend.create_queue("check-standard"),
    ]
    backend.send_message("check.fifo", "{}", group_id="g", deduplication_id="d")
    for queue in queues:
        ours, motos = dict(queue.attributes), _moto_attributes(queue)
        if ours != motos:
            print(f"{queue.name}: {ours} != {motos}", file=sys.stderr)
            sys.exit(1)
    print("moto queue attributes: the mapping equals moto's dictionary")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-check"]:
        self_check()
    else:
        from moto.server import main

        sys.exit(main(sys.argv[1:]))
