//! session-revoker, the Lambda side: AWS behind capability traits, the actions that write,
//! the orchestration that runs a payload through the pure core, and the Lambda glue.
//!
//! The data flows one way:
//! `revoker_core::input` (payload → incidents) → `revoker_core::plan` (pure decisions) →
//! `act` (writes through the `aws` traits) → `revoker_core::report` (JSON and text) → SNS,
//! with `respond` reading the facts and running the stages, and `lambda` holding the glue.
//! The pure stages are re-exported here under their old paths.

pub use revoker_core::{
    config, finding_types, input, model, names, plan, policy, recheck, report, text,
};

pub mod accounts;
pub mod act;
pub mod aws;
pub mod clock;
pub mod error;
pub mod lambda;
pub mod permissions;
pub mod respond;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
