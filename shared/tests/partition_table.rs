//! `use_commercial_partition_table` (shared/src/aws.rs): with the cut table, every endpoint of
//! the three services, in every commercial region, with and without FIPS and dual-stack,
//! resolves exactly as with the SDK's own table.
//!
//! The SDK reads its table once per process, so each side runs in a child process (this
//! binary again, `harness = false`: one thread, as `main` is in a function).

use std::process::Command;

use sync_shared::aws::{COMMERCIAL_REGIONS, CUSTOM_PARTITION_VARIABLE};

/// Set in a child: which table it resolves with (`sdk` or `commercial`).
const SIDE: &str = "PARTITION_TABLE_SIDE";

fn main() {
    match std::env::var(SIDE).as_deref() {
        Ok(side) => print_endpoints(side),
        Err(_) => compare_sides(),
    }
}

fn compare_sides() {
    let sdk = child("sdk");
    let commercial = child("commercial");
    assert_eq!(
        sdk.len(),
        COMMERCIAL_REGIONS.len() * 4 * 3,
        "one endpoint per region, variant and service"
    );
    for (ours, theirs) in commercial.iter().zip(&sdk) {
        assert_eq!(ours, theirs, "the cut table resolves differently");
    }
    assert_eq!(commercial.len(), sdk.len());
    println!(
        "partition_table: {} endpoints resolve the same with the commercial table",
        sdk.len()
    );
}

fn child(side: &str) -> Vec<String> {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .env(SIDE, side)
        .env_remove(CUSTOM_PARTITION_VARIABLE)
        .env("AWS_REGION", "eu-west-1");
    if side == "commercial" {
        // What Lambda gives every function.
        command.env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
    } else {
        command.env_remove("AWS_LAMBDA_RUNTIME_API");
    }
    let output = command.output().expect("running the child");
    assert!(
        output.status.success(),
        "{side} child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(str::to_string)
        .collect()
}

fn print_endpoints(side: &str) {
    sync_shared::aws::use_commercial_partition_table();
    assert_eq!(
        std::env::var_os(CUSTOM_PARTITION_VARIABLE).is_some(),
        side == "commercial",
        "the table is used in Lambda only"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for region in COMMERCIAL_REGIONS {
            for (fips, dual_stack) in [(false, false), (true, false), (false, true), (true, true)] {
                println!("{}", dynamodb(region, fips, dual_stack).await);
                println!("{}", sqs(region, fips, dual_stack).await);
                println!("{}", secrets_manager(region, fips, dual_stack).await);
            }
        }
    });
}

/// One service's resolution: the same code for each SDK crate's own types.
macro_rules! resolver {
    ($name:ident, $service:ident) => {
        async fn $name(region: &str, fips: bool, dual_stack: bool) -> String {
            use $service::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
            let params = Params::builder()
                .region(region)
                .use_fips(fips)
                .use_dual_stack(dual_stack)
                .build()
                .expect("params");
            let resolved = DefaultResolver::new().resolve_endpoint(&params).await;
            let endpoint = match resolved {
                Ok(endpoint) => format!("{} {:?}", endpoint.url(), endpoint.properties()),
                Err(e) => format!("error: {e}"),
            };
            format!(
                "{} {region} fips={fips} dual_stack={dual_stack}: {endpoint}",
                stringify!($service)
            )
        }
    };
}

resolver!(dynamodb, aws_sdk_dynamodb);
resolver!(sqs, aws_sdk_sqs);
resolver!(secrets_manager, aws_sdk_secretsmanager);
