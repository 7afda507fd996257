//! The Lambda glue: logging, clients built once, the handler.

use crate::accounts::SdkAccounts;
use crate::aws::sns::SnsClient;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::respond::{Budget, Responder};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// JSON logs in Lambda (or with `LOG_FORMAT=json`), readable text elsewhere; `RUST_LOG` filters.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match std::env::var("LOG_FORMAT") {
        Ok(f) => f.eq_ignore_ascii_case("json"),
        Err(_) => std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.with_ansi(false).init();
    }
}

pub use crate::aws::{retry_config, MAX_ATTEMPTS};

/// Builds the responder: SDK configuration from the environment (`AWS_ENDPOINT_URL` points it at
/// an emulator), deliberate retries, clients created on first use.
pub async fn build_responder(config: Config) -> Responder {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retry_config())
        .load()
        .await;
    responder_from_sdk(sdk, config)
}

/// The responder over an SDK configuration built elsewhere (tests point it at the emulator).
pub fn responder_from_sdk(sdk: aws_config::SdkConfig, config: Config) -> Responder {
    let notifier = config.sns_topic_arn.as_ref().map(|_| {
        Arc::new(SnsClient(aws_sdk_sns::Client::new(&sdk))) as Arc<dyn crate::aws::Notifier>
    });
    Responder {
        accounts: Arc::new(SdkAccounts::new(sdk, &config)),
        config,
        clock: Arc::new(SystemClock),
        notifier,
    }
}

/// Time left in the invocation, from the context's deadline: epoch milliseconds in Lambda.
/// cargo-lambda's local runtime sends the timeout as a duration in milliseconds instead
/// (e.g. `600000`); a value before the year 2001 can only be that, and is read as such.
pub fn budget(deadline_ms: u64, now_ms: u64) -> Budget {
    const EPOCH_2001_MS: u64 = 978_307_200_000;
    let remaining_ms = match deadline_ms {
        0 => return Budget::UNLIMITED,
        d if d < EPOCH_2001_MS => d,
        d => d.saturating_sub(now_ms),
    };
    Budget {
        deadline: Some(Instant::now() + Duration::from_millis(remaining_ms)),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub async fn handler(
    event: LambdaEvent<Value>,
    responder: &Responder,
) -> Result<Value, Diagnostic> {
    let budget = budget(event.context.deadline, now_ms());
    match responder.respond(&event.payload, budget).await {
        Ok(report) => Ok(serde_json::to_value(&report).unwrap_or(Value::Null)),
        Err(e) => Err(Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remaining(b: Budget) -> Option<Duration> {
        b.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    #[test]
    fn deadlines_in_epoch_millis_and_as_local_durations() {
        let now = 1_795_000_000_000;
        let left = remaining(budget(now + 60_000, now)).unwrap();
        assert!(left > Duration::from_secs(59) && left <= Duration::from_secs(60));
        // cargo-lambda: the timeout itself.
        let left = remaining(budget(600_000, now)).unwrap();
        assert!(left > Duration::from_secs(599) && left <= Duration::from_secs(600));
        assert_eq!(remaining(budget(now - 5, now)), Some(Duration::ZERO));
        assert!(budget(0, now).deadline.is_none());
    }
}
