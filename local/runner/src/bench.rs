//! What the benchmarks share: a meter of the calls the functions make to the local stack (an
//! interceptor on every AWS client), the CPU time of the stack's processes, and the verdict and
//! map formatting of their summaries.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use sync_shared::aws::AwsClients;

pub fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

pub fn fmt_map<V: std::fmt::Display>(map: &BTreeMap<String, V>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds since the first call: the time base of the meter.
pub fn clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Calls to one local-stack service by operation, and the time they took. A call's operation
/// is known when it starts (the `x-amz-target` header) and again when it ends (the type of its
/// output), so each operation's request-seconds are Σ ends − Σ starts, without pairing calls.
/// Busy: wall time with one or more calls in flight.
#[derive(Debug, Default)]
pub struct ServiceMeter {
    pub calls: BTreeMap<String, usize>,
    pub start_sum: BTreeMap<String, f64>,
    pub end_sum: BTreeMap<String, f64>,
    pub ended: BTreeMap<String, usize>,
    pub in_flight: usize,
    pub last_change: Option<f64>,
    pub request_secs: f64,
    pub busy_secs: f64,
}

impl ServiceMeter {
    pub fn advance(&mut self, now: f64) {
        if let Some(last) = self.last_change {
            let dt = now - last;
            self.request_secs += self.in_flight as f64 * dt;
            if self.in_flight > 0 {
                self.busy_secs += dt;
            }
        }
        self.last_change = Some(now);
    }

    /// Request-seconds of `operation`, when all its calls ended.
    pub fn operation_secs(&self, operation: &str) -> Option<f64> {
        let calls = self.calls.get(operation).copied().unwrap_or(0);
        (self.ended.get(operation).copied().unwrap_or(0) == calls).then(|| {
            self.end_sum.get(operation).copied().unwrap_or(0.0)
                - self.start_sum.get(operation).copied().unwrap_or(0.0)
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<BTreeMap<&'static str, ServiceMeter>>>);

#[derive(Debug)]
pub struct MeterInterceptor {
    service: &'static str,
    meter: Meter,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The operation whose output `$out` is, among the listed ones.
macro_rules! operation_of {
    ($out:expr, $($name:literal => $ty:ty),+ $(,)?) => {{
        let out = $out;
        let mut found = None;
        $(
            if found.is_none() && out.downcast_ref::<$ty>().is_some() {
                found = Some($name);
            }
        )+
        found
    }};
}

impl Intercept for MeterInterceptor {
    fn name(&self) -> &'static str {
        "bench-meter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .map(str::to_string)
            .unwrap_or_else(|| "(other)".into());
        let now = clock();
        if let Ok(mut meters) = self.meter.0.lock() {
            let m = meters.entry(self.service).or_default();
            m.advance(now);
            m.in_flight += 1;
            *m.calls.entry(operation.clone()).or_default() += 1;
            *m.start_sum.entry(operation).or_default() += now;
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let now = clock();
        let operation = match context.output_or_error() {
            Some(Ok(out)) => match self.service {
                "DynamoDB" => operation_of!(out,
                    "GetItem" => aws_sdk_dynamodb::operation::get_item::GetItemOutput,
                    "PutItem" => aws_sdk_dynamodb::operation::put_item::PutItemOutput,
                    "UpdateItem" => aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
                    "DeleteItem" => aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput,
                    "Query" => aws_sdk_dynamodb::operation::query::QueryOutput,
                    "Scan" => aws_sdk_dynamodb::operation::scan::ScanOutput,
                    "BatchWriteItem" => aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput,
                    "BatchGetItem" => aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput,
                    "TransactWriteItems" => aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
                ),
                "SQS" => operation_of!(out,
                    "ReceiveMessage" => aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput,
                    "DeleteMessage" => aws_sdk_sqs::operation::delete_message::DeleteMessageOutput,
                    "DeleteMessageBatch" => aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchOutput,
                    "SendMessageBatch" => aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput,
                    "SendMessage" => aws_sdk_sqs::operation::send_message::SendMessageOutput,
                    "ChangeMessageVisibility" => aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityOutput,
                    "GetQueueAttributes" => aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput,
                ),
                "SecretsManager" => operation_of!(out,
                    "GetSecretValue" => aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput,
                ),
                _ => None,
            }
            .unwrap_or("(other)"),
            _ => "(error)",
        };
        if let Ok(mut meters) = self.meter.0.lock() {
            let m = meters.entry(self.service).or_default();
            m.advance(now);
            m.in_flight = m.in_flight.saturating_sub(1);
            *m.ended.entry(operation.to_string()).or_default() += 1;
            *m.end_sum.entry(operation.to_string()).or_default() += now;
        }
        Ok(())
    }
}

/// One period's figures.
#[derive(Debug, Default)]
pub struct AwsCalls {
    pub services: BTreeMap<&'static str, ServiceMeter>,
}

impl Meter {
    /// The figures since the last `take`, and a fresh start.
    pub fn take(&self) -> AwsCalls {
        let services = self
            .0
            .lock()
            .map(|mut m| {
                let now = clock();
                for meter in m.values_mut() {
                    meter.advance(now);
                }
                let taken = std::mem::take(&mut *m);
                // Calls still in flight keep counting in the next period.
                for (service, old) in &taken {
                    if old.in_flight > 0 {
                        m.insert(
                            service,
                            ServiceMeter {
                                in_flight: old.in_flight,
                                last_change: Some(now),
                                ..ServiceMeter::default()
                            },
                        );
                    }
                }
                taken
            })
            .unwrap_or_default();
        AwsCalls { services }
    }
}

impl AwsCalls {
    /// Prints the period's calls; with `customers`, per customer too.
    pub fn print(&self, label: &str, customers: Option<usize>, wall: Duration) {
        println!(
            "local stack, {label} ({:.1} s): calls, request-seconds (sum of call durations), busy (wall time with any in flight):",
            wall.as_secs_f64()
        );
        for (service, m) in &self.services {
            let calls: usize = m.calls.values().sum();
            let per_customer = customers
                .map(|n| format!(" ({:.1} per customer)", calls as f64 / n.max(1) as f64))
                .unwrap_or_default();
            println!(
                "  {service:<15} {calls:>6} calls{per_customer}, {:.1} request-s, busy {:.1} s, {:.1} ms per call",
                m.request_secs,
                m.busy_secs,
                if calls > 0 {
                    1000.0 * m.request_secs / calls as f64
                } else {
                    0.0
                },
            );
            for (operation, n) in &m.calls {
                match m.operation_secs(operation) {
                    Some(secs) => println!(
                        "      {operation:<24} {n:>6} calls, {secs:>7.1} request-s, {:>7.1} ms per call",
                        1000.0 * secs / *n as f64
                    ),
                    None => println!("      {operation:<24} {n:>6} calls (some failed)"),
                }
            }
        }
    }
}

pub async fn metered_clients() -> (AwsClients, Meter) {
    let config = sync_shared::aws::sdk_config().await;
    let meter = Meter::default();
    let interceptor = |service| MeterInterceptor {
        service,
        meter: meter.clone(),
    };
    let clients = AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(interceptor("DynamoDB"))
                .build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config)
                .interceptor(interceptor("SQS"))
                .build(),
        ),
        secrets: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&config)
                .interceptor(interceptor("SecretsManager"))
                .build(),
        ),
    };
    (clients, meter)
}

// ---- CPU time --------------------------------------------------------------------------------

/// The local stack's processes: those whose command line names the port of the DynamoDB or
/// SQS endpoint in the environment. Their CPU time tells what the stack spent (other users of
/// the same stack count too).
pub struct StackProcesses(Vec<(&'static str, u32)>);

impl StackProcesses {
    pub fn from_env() -> StackProcesses {
        let port = |var: &str| {
            std::env::var(var).ok().and_then(|url| {
                url.trim_end_matches('/')
                    .rsplit(':')
                    .next()
                    .map(str::to_string)
            })
        };
        let wanted = [
            ("DynamoDB Local", port("AWS_ENDPOINT_URL_DYNAMODB"), "java"),
            ("moto", port("AWS_ENDPOINT_URL_SQS"), "moto_server"),
        ];
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return StackProcesses(found);
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = String::from_utf8_lossy(&cmdline)
                .split('\0')
                .map(str::to_string)
                .collect();
            for (name, port, program) in &wanted {
                let Some(port) = port else { continue };
                if args.iter().any(|a| a.contains(program)) && args.iter().any(|a| a == port) {
                    found.push((*name, pid));
                }
            }
        }
        found.sort();
        StackProcesses(found)
    }
}

/// CPU seconds (user + system) of a process, from /proc.
pub fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

pub struct Cpu(Vec<(String, f64)>);

impl Cpu {
    pub fn now(stack: &StackProcesses) -> Cpu {
        let mut v = vec![(
            "this process (runner, handlers, simulators)".to_string(),
            cpu_secs("self").unwrap_or(0.0),
        )];
        for (name, pid) in &stack.0 {
            v.push((
                format!("{name} (pid {pid})"),
                cpu_secs(&pid.to_string()).unwrap_or(0.0),
            ));
        }
        Cpu(v)
    }

    pub fn elapsed(&self, stack: &StackProcesses) -> Cpu {
        let now = Cpu::now(stack);
        Cpu(self
            .0
            .iter()
            .zip(now.0)
            .map(|((name, before), (_, after))| (name.clone(), after - before))
            .collect())
    }

    pub fn print(&self, wall: Duration) {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(name, secs)| {
                format!(
                    "{name} {secs:.1} s ({:.0}% of a core)",
                    100.0 * secs / wall.as_secs_f64().max(1e-9)
                )
            })
            .collect();
        println!("CPU time:           {}", parts.join("; "));
    }
}
