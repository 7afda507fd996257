//! The clock, passed in: planning reads `now`, instance re-association waits with `sleep`.

use futures::future::BoxFuture;
use futures::FutureExt;
use time::OffsetDateTime;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
    fn sleep(&self, duration: std::time::Duration) -> BoxFuture<'_, ()>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn sleep(&self, duration: std::time::Duration) -> BoxFuture<'_, ()> {
        tokio::time::sleep(duration).boxed()
    }
}

/// A clock that only moves when slept on: unit tests check ordering without real waiting.
#[derive(Debug)]
pub struct ManualClock {
    now: std::sync::Mutex<OffsetDateTime>,
    slept: std::sync::Mutex<Vec<std::time::Duration>>,
}

impl ManualClock {
    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            now: std::sync::Mutex::new(now),
            slept: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<std::time::Duration> {
        self.slept.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn advance(&self, d: std::time::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep(&self, duration: std::time::Duration) -> BoxFuture<'_, ()> {
        self.slept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(duration);
        self.advance(duration);
        futures::future::ready(()).boxed()
    }
}
