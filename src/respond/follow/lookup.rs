//! Reading one key's CloudTrail events: every region of the window at once, each paced to
//! CloudTrail's 2 requests per second per account and region, page by page within the page cap
//! and the invocation's time. What could not be read is said per region (`Lookup::Partial`),
//! never taken for "nothing found".

use crate::accounts::Accounts;
use crate::act::Ctx;
use crate::config::Config;
use revoker_core::follow::{self, KeyToFollow, LookedUpEvent, Lookup, LookupWindow, Unread};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `LookupEvents` pages read per key and region at most (50 events each): a key with more
/// history than this in the window is read in part, and a person is told (an attacker can push
/// an `AssumeRole` past the cap with cheap calls).
pub(super) const MAX_PAGES: usize = 20;
/// Time a look-up needs left in the invocation before it starts (a page, and the report).
const LOOKUP_NEEDS: Duration = Duration::from_secs(3);

/// Spaces `LookupEvents` calls to CloudTrail's 2 requests per second per account and region,
/// across the incidents and invocations of one container (the SDK's retries with backoff handle
/// throttling beyond it: other containers ask too).
#[derive(Default)]
pub(super) struct Pacer {
    last: Mutex<HashMap<(String, String), Instant>>,
}

impl Pacer {
    /// The one pacer of the container: CloudTrail's limit is per account and region, whatever
    /// incident or invocation asks.
    pub(super) fn shared() -> &'static Pacer {
        static PACER: std::sync::OnceLock<Pacer> = std::sync::OnceLock::new();
        PACER.get_or_init(Pacer::default)
    }

    async fn wait(&self, account: &str, region: &str) {
        let gap = Duration::from_millis(1000 / u64::from(follow::window::LOOKUP_EVENTS_PER_SECOND));
        let wait = {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let key = (account.to_string(), region.to_string());
            let next = last.get(&key).map_or(now, |t| (*t + gap).max(now));
            last.insert(key, next);
            next - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The regions to read besides the finding's and the global-events region: `TRAIL_REGIONS`,
/// else every region enabled for the account (`DescribeRegions`). `Err`: the list could not be
/// had (the follow-up reads the two regions it always reads, and a person is told the rest).
pub(super) async fn other_regions(
    config: &Config,
    accounts: &dyn Accounts,
) -> Result<Vec<String>, String> {
    if !config.trail_regions.is_empty() {
        return Ok(config.trail_regions.clone());
    }
    let Some(regions) = accounts.regions() else {
        return Err("the account's regions cannot be listed here (no EC2 client)".into());
    };
    regions.enabled_regions().await.map_err(|e| {
        tracing::warn!(code = %e.code, "DescribeRegions failed");
        format!("DescribeRegions {}: {}", e.code, e.message)
    })
}

/// Every event of `key` in the window, from each region of the window, in the key's account.
pub(super) async fn lookup_key(
    accounts: &dyn Accounts,
    key: &KeyToFollow,
    window: &LookupWindow,
    finding: &str,
    ctx: &Ctx,
) -> Lookup {
    let access = match accounts.access(&key.account, finding).await {
        Ok(a) => a,
        Err(u) => return Lookup::Unavailable(format!("account {}: {}", u.account, u.reason)),
    };
    let reads = window.regions.iter().map(|region| {
        let history = access.event_history(region);
        async move {
            let Some(history) = history else {
                return (
                    Vec::new(),
                    Some(Unread {
                        region: region.clone(),
                        why: "CloudTrail cannot be read in this account".into(),
                    }),
                );
            };
            read_region(history.as_ref(), key, region, window, ctx).await
        }
    });
    let mut events: Vec<LookedUpEvent> = Vec::new();
    let mut unread: Vec<Unread> = Vec::new();
    for (found, gap) in futures::future::join_all(reads).await {
        events.extend(found);
        unread.extend(gap);
    }
    if unread.is_empty() {
        return Lookup::Events(events);
    }
    tracing::warn!(key = %key.access_key_id, unread = unread.len(), "look-up incomplete");
    if events.is_empty() && unread.len() == window.regions.len() {
        return Lookup::Unavailable(
            unread
                .iter()
                .map(|u| format!("{}: {}", u.region, u.why))
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    // What was read is acted on; what was not is a person's (and the next look's).
    Lookup::Partial { events, unread }
}

/// One region, page by page: the events read, and why the rest was not, if it was not.
async fn read_region(
    history: &dyn crate::aws::EventHistory,
    key: &KeyToFollow,
    region: &str,
    window: &LookupWindow,
    ctx: &Ctx,
) -> (Vec<LookedUpEvent>, Option<Unread>) {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    let unread = |why: String| {
        Some(Unread {
            region: region.to_string(),
            why,
        })
    };
    for _ in 0..MAX_PAGES {
        // The settle pass runs after the follow-up: its time is kept for it.
        if !ctx
            .budget
            .can_start(LOOKUP_NEEDS + crate::respond::settle::RESERVE)
        {
            return (
                events,
                unread("the invocation's time ran out (the next look reads it)".into()),
            );
        }
        Pacer::shared().wait(&key.account, region).await;
        match history
            .lookup_events_by_key(&key.access_key_id, window.start, window.end, token)
            .await
        {
            Ok(p) => {
                events.extend(p.events);
                token = p.next_token;
                if token.is_none() {
                    return (events, None);
                }
            }
            Err(e) => {
                tracing::warn!(key = %key.access_key_id, region = %region, code = %e.code, "LookupEvents failed");
                return (
                    events,
                    unread(format!("LookupEvents {}: {}", e.code, e.message)),
                );
            }
        }
    }
    (
        events,
        unread(format!(
            "more than {} events, only the first {MAX_PAGES} pages read",
            MAX_PAGES * crate::aws::cloudtrail::PAGE_SIZE as usize
        )),
    )
}
