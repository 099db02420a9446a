//! `admin`: a person's view of a deployment — integration statuses (F5), the last stored plan of
//! a job (G1), the audit log (G3), the customer mappings with suggestions (F14) and the monthly
//! reconciliation report (G2).
//!
//! It works against the deployed table with the usual AWS credentials and against the local
//! stack (`AWS_ENDPOINT_URL_*`), like every function. Each command returns its whole output as
//! text — a readable fixed-width table, or with `--json` one JSON document (`reconcile` also
//! CSV) — so tests run the commands in-process. No command prints a secret: secrets are read
//! only to connect.

pub mod audit;
pub mod csv;
pub mod mappings;
pub mod names;
pub mod plan;
pub mod reconcile;
pub mod status;
pub mod text;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sync_shared::Job;
use sync_shared::aws::AwsClients;
use sync_shared::error::error_chain;
use sync_shared::secrets::SecretsCache;
use sync_shared::store::Store;

pub const USAGE: &str = "usage: admin [--table NAME] [--json] COMMAND

commands:
  status [INTEGRATION]                      statuses: state, message, jobs, per-customer issues
  plan INTEGRATION [--job JOB]              the last stored plan of a job (default provisioning)
  audit INTEGRATION [--since WHEN]          remote writes; WHEN is RFC 3339 or an age: 30m, 24h, 7d, 2w
  mappings INTEGRATION [--unmapped] [--company-type TYPE]
                                            Autotask companies and Acronis customer tenants, mapped
                                            and unmapped, with suggestions (reads both APIs)
  reconcile INTEGRATION --month YYYY-MM [--drift-only] [--csv]
                                            the month's reconciliation report: usage against
                                            Autotask units per customer and item; --drift-only
                                            shows only rows not in sync, --csv prints CSV

options:
  --table NAME   the deployment's table (default: environment variable TABLE_NAME)
  --json         one JSON document instead of tables
  -h, --help     this text

environment: AWS credentials and region as usual; AWS_ENDPOINT_URL_* for the local stack;
SECRETS_PREFIX limits the secrets read (as in the functions).";

/// Why a command failed. Texts name items, secrets by name and remote errors — never a value.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{context}: {message}")]
    Failed { context: String, message: String },
}

impl AdminError {
    /// `context: <the error and its sources>`.
    pub fn from_error(
        context: impl Into<String>,
        error: &(dyn std::error::Error + 'static),
    ) -> Self {
        AdminError::Failed {
            context: context.into(),
            message: error_chain(error),
        }
    }

    /// The process exit code: 2 for a usage error, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            AdminError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// Everything parsed from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Cli {
    pub table: Option<String>,
    pub json: bool,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Status {
        integration: Option<String>,
    },
    Plan {
        integration: String,
        job: Job,
    },
    Audit {
        integration: String,
        since: Option<Since>,
    },
    Mappings {
        integration: String,
        unmapped_only: bool,
        company_type: Option<String>,
    },
    Reconcile {
        integration: String,
        /// `YYYY-MM`, validated.
        month: String,
        /// Only rows whose status is not `in_sync`.
        drift_only: bool,
        /// RFC 4180 CSV instead of a table (never together with `--json`).
        csv: bool,
    },
}

/// `--since`: a moment, or an age counted back from when the command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    At(DateTime<Utc>),
    Ago(Duration),
}

impl Since {
    /// RFC 3339 (`2026-11-24T12:00:00Z`), a date (`2026-11-24`, midnight UTC) or an age:
    /// a whole number and `s`, `m`, `h`, `d` or `w` (`24h`, `7d`).
    pub fn parse(text: &str) -> Result<Since, String> {
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(Since::At(at.with_timezone(&Utc)));
        }
        if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Since::At(date.and_time(chrono::NaiveTime::MIN).and_utc()));
        }
        let bad = || {
            format!(
                "--since `{text}` is neither RFC 3339 (2026-11-24T12:00:00Z), a date (2026-11-24) nor an age like 30m, 24h, 7d, 2w"
            )
        };
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let number: i64 = number.parse().map_err(|_| bad())?;
        let age = match unit {
            "s" => Duration::try_seconds(number),
            "m" | "min" => Duration::try_minutes(number),
            "h" => Duration::try_hours(number),
            "d" => Duration::try_days(number),
            "w" => Duration::try_weeks(number),
            _ => None,
        }
        .ok_or_else(bad)?;
        Ok(Since::Ago(age))
    }

    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Since::At(at) => at,
            Since::Ago(age) => now - age,
        }
    }
}

/// Parses the arguments (without the program name). Options may stand anywhere.
pub fn parse_args<I, S>(args: I) -> Result<Cli, AdminError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let usage = |m: String| AdminError::Usage(m);
    let mut table = None;
    let mut json = false;
    let mut job = None;
    let mut since = None;
    let mut unmapped_only = false;
    let mut company_type = None;
    let mut month = None;
    let mut drift_only = false;
    let mut csv = false;
    let mut help = false;
    let mut positional = Vec::new();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_string(), Some(value.into())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, AdminError> {
            inline
                .clone()
                .or_else(|| args.next())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| usage(format!("{name} needs {what}")))
        };
        match name.as_str() {
            "--table" => table = Some(value("a table name")?),
            "--json" => json = true,
            "--job" => job = Some(value("a job name")?),
            "--since" => since = Some(value("a time or an age")?),
            "--unmapped" => unmapped_only = true,
            "--company-type" => company_type = Some(value("a company type label or id")?),
            "--month" => month = Some(value("a month as YYYY-MM")?),
            "--drift-only" => drift_only = true,
            "--csv" => csv = true,
            "-h" | "--help" => help = true,
            other if other.starts_with('-') && other.len() > 1 => {
                return Err(usage(format!("unknown option {other}")));
            }
            _ => positional.push(arg),
        }
    }
    let table = table.or_else(|| {
        std::env::var("TABLE_NAME")
            .ok()
            .filter(|t| !t.trim().is_empty())
    });
    let mut positional = positional.into_iter();
    let command = positional.next();
    let integration = positional.next();
    if let Some(extra) = positional.next() {
        return Err(usage(format!("unexpected argument `{extra}`")));
    }
    let needs_integration = |command: &str| {
        integration
            .clone()
            .ok_or_else(|| usage(format!("{command} needs an integration id")))
    };
    let only_for = |option: &str, given: bool, commands: &str| {
        if given {
            Err(usage(format!("{option} applies only to {commands}")))
        } else {
            Ok(())
        }
    };
    let command = match (help, command.as_deref()) {
        (true, _) | (false, None) | (false, Some("help")) => Command::Help,
        (false, Some("status")) => Command::Status { integration },
        (false, Some("plan")) => Command::Plan {
            integration: needs_integration("plan")?,
            job: match job.as_deref() {
                None => Job::Provisioning,
                Some(name) => parse_job(name).map_err(usage)?,
            },
        },
        (false, Some("audit")) => Command::Audit {
            integration: needs_integration("audit")?,
            since: since
                .as_deref()
                .map(Since::parse)
                .transpose()
                .map_err(usage)?,
        },
        (false, Some("mappings")) => Command::Mappings {
            integration: needs_integration("mappings")?,
            unmapped_only,
            company_type: company_type.clone(),
        },
        (false, Some("reconcile")) => Command::Reconcile {
            integration: needs_integration("reconcile")?,
            month: reconcile::parse_month(
                month
                    .as_deref()
                    .ok_or_else(|| usage("reconcile needs --month YYYY-MM".into()))?,
            )
            .map_err(usage)?,
            drift_only,
            csv,
        },
        (false, Some(other)) => return Err(usage(format!("unknown command `{other}`"))),
    };
    if !matches!(command, Command::Help) {
        only_for(
            "--job",
            job.is_some() && !matches!(command, Command::Plan { .. }),
            "plan",
        )?;
        only_for(
            "--since",
            since.is_some() && !matches!(command, Command::Audit { .. }),
            "audit",
        )?;
        let mappings = matches!(command, Command::Mappings { .. });
        only_for("--unmapped", unmapped_only && !mappings, "mappings")?;
        only_for(
            "--company-type",
            company_type.is_some() && !mappings,
            "mappings",
        )?;
        let reconcile = matches!(command, Command::Reconcile { .. });
        only_for("--month", month.is_some() && !reconcile, "reconcile")?;
        only_for("--drift-only", drift_only && !reconcile, "reconcile")?;
        only_for("--csv", csv && !reconcile, "reconcile")?;
        if json && csv {
            return Err(usage("--json and --csv exclude each other".into()));
        }
    }
    Ok(Cli {
        table,
        json,
        command,
    })
}

/// A job by its name (`setup`, `provisioning`).
pub fn parse_job(name: &str) -> Result<Job, String> {
    Job::ALL
        .into_iter()
        .find(|job| job.as_str() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = Job::ALL.iter().map(|j| j.as_str()).collect();
            format!("unknown job `{name}`; jobs: {}", known.join(", "))
        })
}

/// What the commands read with: the table, and for `mappings` the secrets and client options.
pub struct Admin {
    pub store: Store,
    pub secrets: Arc<SecretsCache>,
    pub acronis_options: sync_shared::acronis::ClientOptions,
    /// Tests shorten the Autotask client's retry delays.
    pub fast_autotask_retries: bool,
}

impl Admin {
    /// Secrets whose names start with `secrets_prefix` only (empty: any).
    pub fn new(clients: &AwsClients, table: &str, secrets_prefix: &str) -> Self {
        Admin {
            store: Store::new(clients.dynamodb.clone(), table),
            secrets: Arc::new(SecretsCache::new(
                clients.secrets.clone(),
                sync_shared::secrets::DEFAULT_TTL,
                secrets_prefix,
            )),
            acronis_options: sync_shared::acronis::ClientOptions::default(),
            fast_autotask_retries: false,
        }
    }

    /// From the environment's AWS configuration; `SECRETS_PREFIX` as in the functions.
    pub async fn from_env(table: &str) -> Self {
        let clients = AwsClients::from_env().await;
        let prefix = std::env::var("SECRETS_PREFIX").unwrap_or_default();
        Admin::new(&clients, table, &prefix)
    }
}

/// Runs one parsed command and returns what it prints.
pub async fn run(admin: &Admin, command: &Command, json: bool) -> Result<String, AdminError> {
    match command {
        Command::Help => Ok(format!("{USAGE}\n")),
        Command::Status { integration } => {
            let report = status::load(&admin.store, integration.as_deref()).await?;
            Ok(output(json, &report, || status::render(&report)))
        }
        Command::Plan { integration, job } => {
            let report = plan::load(&admin.store, integration, *job).await?;
            Ok(output(json, &report, || plan::render(&report)))
        }
        Command::Audit { integration, since } => {
            let since = since.map(|s| s.resolve(Utc::now()));
            let report = audit::load(&admin.store, integration, since).await?;
            Ok(output(json, &report, || audit::render(&report)))
        }
        Command::Mappings {
            integration,
            unmapped_only,
            company_type,
        } => {
            let filter = mappings::Filter {
                unmapped_only: *unmapped_only,
                company_type: company_type.clone(),
            };
            let report = mappings::load(admin, integration, &filter).await?;
            Ok(output(json, &report, || mappings::render(&report)))
        }
        Command::Reconcile {
            integration,
            month,
            drift_only,
            csv,
        } => {
            let report = reconcile::load(&admin.store, integration, month, *drift_only).await?;
            if *csv && !json {
                Ok(reconcile::render_csv(&report))
            } else {
                Ok(output(json, &report, || reconcile::render(&report)))
            }
        }
    }
}

/// The in-process entry point: parses `args` (without the program name), connects with the
/// environment's AWS configuration and runs the command.
pub async fn run_args<I, S>(args: I) -> Result<String, AdminError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let cli = parse_args(args)?;
    if cli.command == Command::Help {
        return Ok(format!("{USAGE}\n"));
    }
    let table = cli
        .table
        .clone()
        .ok_or_else(|| AdminError::Usage("no table: give --table NAME or set TABLE_NAME".into()))?;
    let admin = Admin::from_env(&table).await;
    run(&admin, &cli.command, cli.json).await
}

fn output<T: serde::Serialize>(
    json: bool,
    report: &T,
    readable: impl FnOnce() -> String,
) -> String {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => text + "\n",
            Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
        }
    } else {
        readable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn parse(args: &[&str]) -> Result<Cli, AdminError> {
        parse_args(args.iter().copied())
    }

    #[test]
    fn commands_and_options_parse_in_any_order() {
        let cli = parse(&[
            "--json", "plan", "contoso", "--table", "t1", "--job", "setup",
        ])
        .unwrap();
        assert_eq!(cli.table.as_deref(), Some("t1"));
        assert!(cli.json);
        assert_eq!(
            cli.command,
            Command::Plan {
                integration: "contoso".into(),
                job: Job::Setup
            }
        );
        let cli = parse(&[
            "--table=t2",
            "mappings",
            "contoso",
            "--unmapped",
            "--company-type",
            "Customer",
        ])
        .unwrap();
        assert_eq!(cli.table.as_deref(), Some("t2"));
        assert_eq!(
            cli.command,
            Command::Mappings {
                integration: "contoso".into(),
                unmapped_only: true,
                company_type: Some("Customer".into())
            }
        );
        let cli = parse(&["status", "--table", "t"]).unwrap();
        assert_eq!(cli.command, Command::Status { integration: None });
        assert_eq!(
            parse(&["plan", "x", "--table", "t"]).unwrap().command,
            Command::Plan {
                integration: "x".into(),
                job: Job::Provisioning
            }
        );
        assert_eq!(
            parse(&[
                "reconcile",
                "contoso",
                "--month=2026-11",
                "--drift-only",
                "--csv",
                "--table",
                "t"
            ])
            .unwrap()
            .command,
            Command::Reconcile {
                integration: "contoso".into(),
                month: "2026-11".into(),
                drift_only: true,
                csv: true
            }
        );
        let cli = parse(&["--json", "reconcile", "x", "--month", "2026-01"]).unwrap();
        assert!(cli.json);
        assert_eq!(
            cli.command,
            Command::Reconcile {
                integration: "x".into(),
                month: "2026-01".into(),
                drift_only: false,
                csv: false
            }
        );
        assert_eq!(parse(&["--help"]).unwrap().command, Command::Help);
        assert_eq!(parse(&[]).unwrap().command, Command::Help);
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for args in [
            &["plan"][..],
            &["audit"],
            &["mappings"],
            &["status", "a", "b"],
            &["frobnicate"],
            &["status", "--bogus"],
            &["plan", "x", "--job", "nope"],
            &["plan", "x", "--job"],
            &["status", "--job", "setup"],
            &["plan", "x", "--unmapped"],
            &["audit", "x", "--since", "yesterday"],
            &["reconcile", "x"],
            &["reconcile", "--month", "2026-11"],
            &["reconcile", "x", "--month"],
            &["reconcile", "x", "--month", "2026-13"],
            &["reconcile", "x", "--month", "11/2026"],
            &["reconcile", "x", "--month", "2026-11", "--json", "--csv"],
            &["status", "--month", "2026-11"],
            &["audit", "x", "--drift-only"],
            &["plan", "x", "--csv"],
        ] {
            let err = parse(args).expect_err(&format!("{args:?}"));
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
    }

    #[test]
    fn since_takes_times_dates_and_ages() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let at = |text: &str| Since::parse(text).unwrap().resolve(now);
        assert_eq!(at("24h"), now - Duration::hours(24));
        assert_eq!(at("7d"), now - Duration::days(7));
        assert_eq!(at("30m"), now - Duration::minutes(30));
        assert_eq!(at("2w"), now - Duration::weeks(2));
        assert_eq!(at("90s"), now - Duration::seconds(90));
        assert_eq!(
            at("2026-11-20T08:30:00+01:00"),
            Utc.with_ymd_and_hms(2026, 11, 20, 7, 30, 0).unwrap()
        );
        assert_eq!(
            at("2026-11-20"),
            Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
        );
        for bad in ["", "h", "7", "7y", "-1d", "1.5h", "soon"] {
            assert!(Since::parse(bad).is_err(), "{bad}");
        }
    }
}
