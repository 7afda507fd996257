//! In memory: CloudTrail's event history of an account and EventBridge Scheduler, for the
//! follow-up's orchestration tests. Fakes: no lag, no rate limit, every event in one page.

use crate::aws::{
    AwsResult, EventHistory, EventsPage, OneTimeSchedule, ScheduleCreated, Schedules,
};
use crate::error::AwsError;
use futures::future::BoxFuture;
use futures::FutureExt;
use revoker_core::follow::LookedUpEvent;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// The CloudTrail records of one account: (region, event).
#[derive(Debug, Default)]
pub struct MemoryTrail {
    events: Mutex<Vec<(String, LookedUpEvent)>>,
    /// (region, access key id) of every `LookupEvents`.
    pub lookups: Mutex<Vec<(String, String)>>,
    /// Fail every look-up with this error.
    pub fail: Mutex<Option<AwsError>>,
    /// Fail the look-ups of one region with this error.
    pub fail_in: Mutex<std::collections::HashMap<String, AwsError>>,
    /// Events per page (`None`: every event in one page), to drive pagination and its cap.
    pub page_size: Mutex<Option<usize>>,
}

impl MemoryTrail {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A record (`CloudTrailEvent` JSON) made with its `userIdentity.accessKeyId`, in its
    /// `awsRegion`.
    pub fn add(&self, record: &Value) {
        let region = record["awsRegion"]
            .as_str()
            .unwrap_or("us-east-1")
            .to_string();
        let event = LookedUpEvent {
            event_id: record["eventID"].as_str().map(str::to_string),
            event_name: record["eventName"].as_str().map(str::to_string),
            access_key_id: record["userIdentity"]["accessKeyId"]
                .as_str()
                .map(str::to_string),
            cloud_trail_event: Some(record.to_string()),
        };
        self.events.lock().unwrap().push((region, event));
    }

    /// The history as one region's `LookupEvents` sees it.
    pub fn in_region(self: &Arc<Self>, region: &str) -> Arc<dyn EventHistory> {
        Arc::new(RegionView {
            trail: self.clone(),
            region: region.to_string(),
        })
    }
}

struct RegionView {
    trail: Arc<MemoryTrail>,
    region: String,
}

impl EventHistory for RegionView {
    fn lookup_events_by_key<'a>(
        &'a self,
        access_key_id: &'a str,
        _start: OffsetDateTime,
        _end: OffsetDateTime,
        next_token: Option<String>,
    ) -> BoxFuture<'a, AwsResult<EventsPage>> {
        let t = &self.trail;
        t.lookups
            .lock()
            .unwrap()
            .push((self.region.clone(), access_key_id.to_string()));
        let failure = t
            .fail
            .lock()
            .unwrap()
            .clone()
            .or_else(|| t.fail_in.lock().unwrap().get(&self.region).cloned());
        let result = match failure {
            Some(e) => Err(e),
            None => {
                let all: Vec<LookedUpEvent> = t
                    .events
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(r, e)| {
                        *r == self.region && e.access_key_id.as_deref() == Some(access_key_id)
                    })
                    .map(|(_, e)| e.clone())
                    .collect();
                let from: usize = next_token.and_then(|t| t.parse().ok()).unwrap_or(0);
                let size = t.page_size.lock().unwrap().unwrap_or(usize::MAX);
                let to = from.saturating_add(size).min(all.len());
                Ok(EventsPage {
                    events: all[from.min(to)..to].to_vec(),
                    next_token: (to < all.len()).then(|| to.to_string()),
                })
            }
        };
        futures::future::ready(result).boxed()
    }
}

/// EventBridge Scheduler in memory: schedules by name (a second of the same name conflicts).
#[derive(Debug, Default)]
pub struct MemoryScheduler {
    pub created: Mutex<Vec<OneTimeSchedule>>,
    pub fail: Mutex<Option<AwsError>>,
}

impl Schedules for MemoryScheduler {
    fn create_one_time<'a>(
        &'a self,
        schedule: &'a OneTimeSchedule,
    ) -> BoxFuture<'a, AwsResult<ScheduleCreated>> {
        let result = if let Some(e) = self.fail.lock().unwrap().clone() {
            Err(e)
        } else {
            let mut created = self.created.lock().unwrap();
            if created.iter().any(|s| s.name == schedule.name) {
                Ok(ScheduleCreated::AlreadyExists)
            } else {
                created.push(schedule.clone());
                Ok(ScheduleCreated::Created(format!(
                    "arn:aws:scheduler:us-east-1:123456789012:schedule/default/{}",
                    schedule.name
                )))
            }
        };
        futures::future::ready(result).boxed()
    }
}
