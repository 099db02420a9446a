//! Hello world on the Lambda runtime: answers every event with a greeting. Built like the
//! functions (release profile, same workspace), it is the cold-start baseline that
//! `bench_coldstart` compares each function with.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(json!({"message": "hello", "request_id": event.context.request_id}))
    }))
    .await
}
