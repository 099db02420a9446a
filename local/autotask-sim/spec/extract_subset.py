#!/usr/bin/env python3
"""Regenerate spec/autotask-subset.json from the full swagger.

The simulator embeds only the paths it serves and the definitions they reach, copied unchanged;
tests/conformance.rs proves every entry is byte-for-byte equal to the full swagger's.
Usage: python3 spec/extract_subset.py ../../../shared/reference/autotask-rest-swagger.json
"""
import json, re, sys
swagger = json.load(open(sys.argv[1]))
ENTITIES = ["Companies", "Contacts", "Contracts", "Services", "ServiceBundles", "ContractServices",
            "ContractServiceBundles", "ContractServiceUnits", "ContractServiceBundleUnits",
            "ContractServiceAdjustments", "ContractServiceBundleAdjustments", "BillingCodes",
            "UserDefinedFieldDefinitions", "Tickets", "TicketNotes"]
CHILDREN = ["/V1.0/Companies/{parentId}/Contacts", "/V1.0/Contracts/{parentId}/Services",
            "/V1.0/Contracts/{parentId}/ServiceBundles", "/V1.0/Contracts/{parentId}/ServiceUnits",
            "/V1.0/Contracts/{parentId}/ServiceBundleUnits", "/V1.0/Contracts/{parentId}/ServiceAdjustments",
            "/V1.0/Contracts/{parentId}/ServiceBundleAdjustments", "/V1.0/Tickets/{parentId}/Notes"]
paths = {}
for p, ops in swagger["paths"].items():
    keep = p in ("/V1.0/ZoneInformation", "/VersionInformation", "/V1.0/ThresholdInformation")
    keep |= any(p == "/V1.0/" + e or p.startswith("/V1.0/" + e + "/") for e in ENTITIES) and "{parentId}" not in p
    keep |= any(p == c or p.startswith(c + "/") for c in CHILDREN)
    if keep:
        paths[p] = ops
defs, todo = {}, []
def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                todo.append(v.split("/")[-1])
            else:
                refs(v)
    elif isinstance(node, list):
        for v in node:
            refs(v)
refs(paths)
while todo:
    name = todo.pop()
    if name not in defs:
        defs[name] = swagger["definitions"][name]
        refs(defs[name])
out = {"swagger": swagger["swagger"], "info": swagger["info"], "host": swagger["host"],
       "basePath": swagger["basePath"], "paths": paths, "definitions": dict(sorted(defs.items()))}
json.dump(out, open("spec/autotask-subset.json", "w"), indent=1, sort_keys=False)
print(len(paths), "paths,", len(defs), "definitions")
