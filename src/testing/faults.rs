//! Failure injection for the in-memory account, in the spirit of mountpoint-s3's failure
//! client: fail the Nth call of an operation with a given AWS error code, or delay a call.

use crate::error::AwsError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Rule {
    /// Fail calls number `from..from+times` (1-based) of the operation with `code`.
    Fail {
        operation: &'static str,
        from: usize,
        times: usize,
        code: String,
    },
    /// Sleep before every call of the operation.
    Delay {
        operation: &'static str,
        by: Duration,
    },
}

/// The faults to inject, and how many times each operation was called.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
    calls: Mutex<HashMap<&'static str, usize>>,
    log: Mutex<Vec<&'static str>>,
}

impl Faults {
    /// The `nth` call (1-based) of `operation` fails with `code`.
    pub fn fail_nth(&self, operation: &'static str, nth: usize, code: &str) -> &Self {
        self.fail_calls(operation, nth, 1, code)
    }

    /// Calls `from..from+times` (1-based) of `operation` fail with `code`.
    pub fn fail_calls(
        &self,
        operation: &'static str,
        from: usize,
        times: usize,
        code: &str,
    ) -> &Self {
        self.rules.lock().unwrap().push(Rule::Fail {
            operation,
            from,
            times,
            code: code.to_string(),
        });
        self
    }

    /// Every call of `operation` fails with `code`.
    pub fn fail_always(&self, operation: &'static str, code: &str) -> &Self {
        self.fail_calls(operation, 1, usize::MAX, code)
    }

    /// Every call of `operation` waits `by` first.
    pub fn delay(&self, operation: &'static str, by: Duration) -> &Self {
        self.rules
            .lock()
            .unwrap()
            .push(Rule::Delay { operation, by });
        self
    }

    /// How many times `operation` was called (failed calls included).
    pub fn calls(&self, operation: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Every call, in order.
    pub fn log(&self) -> Vec<&'static str> {
        self.log.lock().unwrap().clone()
    }

    /// Called at the start of every operation: counts it, applies a delay, and returns the
    /// injected error if this call is one that fails.
    pub async fn enter(&self, operation: &'static str) -> Result<(), AwsError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(operation).or_insert(0);
            *n += 1;
            *n
        };
        self.log.lock().unwrap().push(operation);
        let rules = self.rules.lock().unwrap().clone();
        for rule in &rules {
            if let Rule::Delay { operation: op, by } = rule {
                if *op == operation {
                    tokio::time::sleep(*by).await;
                }
            }
        }
        for rule in rules {
            if let Rule::Fail {
                operation: op,
                from,
                times,
                code,
            } = rule
            {
                if op == operation && n >= from && n - from < times {
                    return Err(AwsError::new(
                        operation,
                        code,
                        format!("injected failure of call {n} of {operation}"),
                    ));
                }
            }
        }
        Ok(())
    }
}
