//! The Lambda glue: logging, the SDK's HTTPS client and configuration, clients built on first
//! use, the handler.

use crate::accounts::SdkAccounts;
use crate::aws::sns::SnsClient;
use crate::aws::{AwsResult, Notifier, Publication};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::respond::{Budget, Responder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use futures::future::BoxFuture;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// JSON logs in Lambda (or with `LOG_FORMAT=json`), readable text elsewhere; `RUST_LOG` filters.
///
/// `RUST_LOG` is a level (`info`, what the template sets) or a list of `target=level` directives
/// (`info,aws_smithy_runtime=debug`), read by `Targets`: `EnvFilter`'s span and field filters
/// would link a regular-expression engine into the binary for a syntax nobody sets here. A value
/// that does not parse means `info`.
pub fn init_logging() {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let json = match std::env::var("LOG_FORMAT") {
        Ok(f) => f.eq_ignore_ascii_case("json"),
        Err(_) => std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
    };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            )
            .init();
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(false),
            )
            .init();
    }
}

/// The log filter for a `RUST_LOG` value (see [`init_logging`]).
pub fn log_filter(value: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

pub use crate::aws::{retry_config, MAX_ATTEMPTS};

/// The roots of Amazon Trust Services, the certificate authority of AWS service endpoints
/// (Amazon Root CA 1 to 4 and Starfield Services Root CA G2), as PEM, compiled into the binary:
/// certs/amazon-trust-services.pem. README "TLS trust" says why these and only these.
pub const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// The variable that chooses the trust store: `amazon` or `platform` (see [`TrustStore`]).
pub const TRUST_STORE_VARIABLE: &str = "TLS_TRUST_STORE";

/// Which root certificates the HTTPS client of every AWS call trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustStore {
    /// The Amazon Trust Services roots compiled into the binary: nothing is read from disk, and
    /// nothing but an AWS-issued certificate is accepted. The default.
    AmazonTrustServices,
    /// The platform's roots (the system bundle, `SSL_CERT_FILE`, `SSL_CERT_DIR`), read when the
    /// first client is built, as the SDK does by default: for a proxy that re-signs TLS with its
    /// own certificate authority, and for the China regions, whose endpoints this project has
    /// not checked against the Amazon Trust Services roots.
    Platform,
}

/// A `TLS_TRUST_STORE` value that is neither `amazon` nor `platform`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{TRUST_STORE_VARIABLE}={value:?}: expected `amazon` (the compiled-in Amazon Trust Services roots) or `platform` (the system's root certificates)")]
pub struct InvalidTrustStore {
    pub value: String,
}

impl TrustStore {
    /// The choice from `TLS_TRUST_STORE` (any case; unset or empty: the default) and the region:
    /// `amazon` everywhere but in the China regions (`cn-*`), where `platform` is the default.
    pub fn choose(value: Option<&str>, region: Option<&str>) -> Result<Self, InvalidTrustStore> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None if region.is_some_and(|r| r.starts_with("cn-")) => Ok(Self::Platform),
            None => Ok(Self::AmazonTrustServices),
            Some(v) if v.eq_ignore_ascii_case("amazon") => Ok(Self::AmazonTrustServices),
            Some(v) if v.eq_ignore_ascii_case("platform") => Ok(Self::Platform),
            Some(v) => Err(InvalidTrustStore {
                value: v.to_string(),
            }),
        }
    }

    /// The choice for this process's environment (`TLS_TRUST_STORE`, `AWS_REGION`).
    pub fn from_env() -> Result<Self, InvalidTrustStore> {
        let region = env_value("AWS_REGION").or_else(|| env_value("AWS_DEFAULT_REGION"));
        Self::choose(
            env_value(TRUST_STORE_VARIABLE).as_deref(),
            region.as_deref(),
        )
    }

    fn sdk_trust_store(self) -> aws_smithy_http_client::tls::TrustStore {
        use aws_smithy_http_client::tls::TrustStore as Sdk;
        match self {
            Self::AmazonTrustServices => {
                Sdk::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS)
            }
            Self::Platform => Sdk::default().with_native_roots(true),
        }
    }
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The HTTPS client of every AWS call: the SDK's default client (hyper 1, rustls with aws-lc,
/// proxies from `HTTPS_PROXY`/`NO_PROXY`), with the trust store chosen here instead of every
/// platform root certificate.
///
/// Built the way aws-smithy-runtime builds its default client (`build_with_connector_fn`), so
/// the proxy settings of the environment still apply: the public `Builder::build_https` has no
/// proxy setting, and a proxy that re-signs TLS is the reason the platform store exists here.
pub fn https_client(
    trust: TrustStore,
) -> Result<SharedHttpClient, aws_smithy_http_client::HttpClientError> {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext};
    use aws_smithy_http_client::{Builder, Connector};
    let context = TlsContext::builder()
        .with_trust_store(trust.sdk_trust_store())
        .build()?;
    Ok(
        Builder::new().build_with_connector_fn(move |settings, components| {
            let mut connector = Connector::builder()
                .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(context.clone());
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        }),
    )
}

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    TrustStore(#[from] InvalidTrustStore),
    #[error("the HTTPS client could not be built: {0}")]
    HttpClient(#[from] aws_smithy_http_client::HttpClientError),
}

/// The SDK configuration: the HTTPS client above, deliberate retries, and what Lambda gives
/// every function in its environment read directly. With `AWS_REGION` (or
/// `AWS_DEFAULT_REGION`) and `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` set, as Lambda sets
/// them, the SDK's default region and credentials chains are not built: they would create an
/// STS client (web identity) and instance-metadata clients that a Lambda function never uses,
/// before the first event. Without them (a developer's profile, a container), the default
/// chains apply. `AWS_ENDPOINT_URL` still points every client at an emulator.
pub async fn sdk_config(trust: TrustStore) -> Result<aws_config::SdkConfig, StartError> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retry_config())
        .http_client(https_client(trust)?);
    if env_value("AWS_REGION").is_some() || env_value("AWS_DEFAULT_REGION").is_some() {
        loader = loader.region(aws_config::environment::EnvironmentVariableRegionProvider::new());
    }
    if env_value("AWS_ACCESS_KEY_ID").is_some() && env_value("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    Ok(loader.load().await)
}

/// Builds the responder: the SDK configuration from the environment, and no client yet. Every
/// client (IAM of an account, STS, EC2 of a region, SNS) is created on its first use, so the
/// function asks Lambda for its first event as soon as the configuration is read.
pub async fn build_responder(config: Config) -> Result<Responder, StartError> {
    let trust = TrustStore::from_env()?;
    let sdk = sdk_config(trust).await?;
    tracing::debug!(trust_store = ?trust, "SDK configuration loaded");
    Ok(responder_from_sdk(sdk, config))
}

/// The responder over an SDK configuration built elsewhere (tests point it at the emulator).
pub fn responder_from_sdk(sdk: aws_config::SdkConfig, config: Config) -> Responder {
    let accounts = Arc::new(SdkAccounts::new(sdk.clone(), &config));
    let notifier = config
        .sns_topic_arn
        .as_ref()
        .map(|_| Arc::new(LazySns::new(sdk)) as Arc<dyn Notifier>);
    Responder {
        accounts,
        config,
        clock: Arc::new(SystemClock),
        notifier,
    }
}

/// The SNS client, created on the first publication (after the deny, never before the first
/// `next`).
struct LazySns {
    sdk: aws_config::SdkConfig,
    client: OnceLock<SnsClient>,
}

impl LazySns {
    fn new(sdk: aws_config::SdkConfig) -> Self {
        Self {
            sdk,
            client: OnceLock::new(),
        }
    }
}

impl Notifier for LazySns {
    fn publish<'a>(&'a self, publication: &'a Publication) -> BoxFuture<'a, AwsResult<String>> {
        self.client
            .get_or_init(|| SnsClient(aws_sdk_sns::Client::new(&self.sdk)))
            .publish(publication)
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
    // `{"action": "restore", ...}`: its own path and report (respond/restore.rs).
    if crate::input::is_restore(&event.payload) {
        return match responder.restore(&event.payload).await {
            Ok((report, Ok(()))) => Ok(serde_json::to_value(&report).unwrap_or(Value::Null)),
            Ok((_, Err(e))) | Err(e) => Err(Diagnostic {
                error_type: e.error_type().to_string(),
                error_message: e.to_string(),
            }),
        };
    }
    // The re-check queue's batch (its second event source): partial failures as Lambda expects.
    if crate::respond::recheck::is_sqs_event(&event.payload) {
        let batch: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event.payload)
            .map_err(|e| Diagnostic {
                error_type: "InvalidSqsEvent".into(),
                error_message: e.to_string(),
            })?;
        let response = responder.recheck_batch(batch).await;
        return Ok(serde_json::to_value(&response).unwrap_or(Value::Null));
    }
    let budget = budget(event.context.deadline, now_ms());
    // Who invoked, for manual requests' reports (VERIFY_FINDINGS, respond/verify.rs).
    let caller = crate::respond::verify::Caller::from_context(&event.context);
    let respond = responder.respond(&event.payload, budget);
    match crate::respond::verify::with_caller(caller, respond).await {
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
    fn rust_log_levels_and_directives() {
        use tracing::Level;
        let info = log_filter(None);
        assert!(info.would_enable("session_revoker", &Level::INFO));
        assert!(!info.would_enable("session_revoker", &Level::DEBUG));
        let debug = log_filter(Some("debug"));
        assert!(debug.would_enable("aws_smithy_runtime", &Level::DEBUG));
        let mixed = log_filter(Some("warn,session_revoker=debug"));
        assert!(mixed.would_enable("session_revoker::respond", &Level::DEBUG));
        assert!(!mixed.would_enable("aws_smithy_runtime", &Level::INFO));
        // Not a level or a target=level list: info.
        let fallback = log_filter(Some("[span{x=1}]=debug"));
        assert!(fallback.would_enable("session_revoker", &Level::INFO));
        assert!(!fallback.would_enable("session_revoker", &Level::DEBUG));
    }

    #[test]
    fn trust_store_amazon_by_default_platform_on_request_and_in_china() {
        use TrustStore::*;
        assert_eq!(
            TrustStore::choose(None, Some("us-east-1")),
            Ok(AmazonTrustServices)
        );
        assert_eq!(TrustStore::choose(Some(" "), None), Ok(AmazonTrustServices));
        assert_eq!(
            TrustStore::choose(Some("Platform"), Some("eu-west-1")),
            Ok(Platform)
        );
        assert_eq!(
            TrustStore::choose(Some("amazon"), Some("cn-north-1")),
            Ok(AmazonTrustServices)
        );
        assert_eq!(
            TrustStore::choose(None, Some("cn-northwest-1")),
            Ok(Platform)
        );
        let err = TrustStore::choose(Some("system"), None).unwrap_err();
        assert!(
            err.to_string().contains("TLS_TRUST_STORE=\"system\""),
            "{err}"
        );
    }

    #[test]
    fn the_https_client_builds_with_either_store() {
        assert!(https_client(TrustStore::AmazonTrustServices).is_ok());
        assert!(https_client(TrustStore::Platform).is_ok());
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
