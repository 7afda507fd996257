//! session-revoker: from a GuardDuty credential finding to revoked sessions and a report.
//!
//! The data flows one way:
//! `input` (payload → incidents) → `plan` (pure decisions) → `respond` (reads, writes through
//! the `aws` traits) → `report` (JSON and text) → SNS, and the handler returns the report.

pub mod accounts;
pub mod aws;
pub mod clock;
pub mod config;
pub mod error;
pub mod finding_types;
pub mod input;
pub mod lambda;
pub mod names;
pub mod permissions;
pub mod plan;
pub mod policy;
pub mod reassociate;
pub mod report;
pub mod respond;
