//! The pure core of session-revoker: from a payload to a plan, and from outcomes to a report.
//!
//! The data flows one way, and so do the imports:
//! `model` (at the bottom) ← `input` (payload → incidents) ← `plan` (decisions, pure, clock
//! passed in; `policy` builds and reads the deny documents) ← `report` (JSON, text, SNS).
//! Nothing here calls AWS, reads the clock or spawns a task: this crate depends on no AWS SDK
//! crate, no tokio and no lambda_runtime, so the compiler enforces it.

pub mod config;
pub mod drill;
pub mod finding_types;
pub mod follow;
pub mod input;
pub mod model;
pub mod names;
pub mod plan;
pub mod policy;
pub mod recheck;
pub mod report;
pub mod text;
pub mod verify;
