use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use session_revoker::config::Config;
use session_revoker::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_logging();
    let config = Config::from_env().inspect_err(
        |e| tracing::error!(variable = e.variable, error = %e, "invalid configuration"),
    )?;
    let responder = lambda::build_responder(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "could not start"))?;
    let responder = &responder;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        lambda::handler(event, responder)
    }))
    .await
}
