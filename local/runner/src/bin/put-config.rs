//! `put-config`: validates configuration items and writes them to the table, in AWS or on the
//! local stack. Nothing is written unless every item is valid.
//!
//!     cargo run -p local-runner --bin put-config -- --table TABLE [--check] FILE.json...
//!
//! Each file holds one item or an array of items, as plain JSON (the README's examples).

use anyhow::{Context, Result, bail};
use sync_shared::aws::AwsClients;
use sync_shared::config::{Item, validate_user_item};
use sync_shared::store::Store;

const USAGE: &str = "usage: put-config --table TABLE [--check] FILE.json...
  --table TABLE  the deployment's table (stack output TableName)
  --check        validate only; write nothing";

#[tokio::main]
async fn main() -> Result<()> {
    let mut table = None;
    let mut check_only = false;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--table" => table = Some(args.next().context(USAGE)?),
            "--check" => check_only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            file => files.push(file.to_string()),
        }
    }
    if files.is_empty() || (table.is_none() && !check_only) {
        bail!("{USAGE}");
    }
    let mut items: Vec<Item> = Vec::new();
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {file}"))?;
        let values = match value {
            serde_json::Value::Array(values) => values,
            value => vec![value],
        };
        for value in values {
            let item: Item = serde_dynamo::to_item(value)
                .with_context(|| format!("converting an item of {file}"))?;
            match validate_user_item(&item) {
                Ok(()) => items.push(item),
                Err(e) => problems.push(format!("{file}: {e}")),
            }
        }
    }
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("invalid: {problem}");
        }
        bail!("{} invalid item(s); nothing was written", problems.len());
    }
    println!("{} item(s) valid", items.len());
    if check_only {
        return Ok(());
    }
    let table = table.context(USAGE)?;
    let store = Store::new(AwsClients::from_env().await.dynamodb, &table);
    for item in items {
        store
            .put_item(item)
            .await
            .map_err(|e| anyhow::anyhow!(sync_shared::error::error_chain(&e)))?;
    }
    println!("written to {table}");
    Ok(())
}
