//! CloudTrail event history (`LookupEvents`) through `aws_sdk_cloudtrail`: what one access key
//! did, one page at a time.

use super::{AwsResult, EventHistory, EventsPage};
use crate::error::{from_sdk, AwsError};
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;
use aws_smithy_types::DateTime;
use futures::future::BoxFuture;
use futures::FutureExt;
use revoker_core::follow::LookedUpEvent;
use time::OffsetDateTime;

/// `LookupEvents` returns at most 50 events per page.
pub const PAGE_SIZE: i32 = 50;

pub struct CloudTrailClient(pub Client);

fn smithy_time(t: OffsetDateTime) -> DateTime {
    DateTime::from_secs(t.unix_timestamp())
}

impl EventHistory for CloudTrailClient {
    fn lookup_events_by_key<'a>(
        &'a self,
        access_key_id: &'a str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        next_token: Option<String>,
    ) -> BoxFuture<'a, AwsResult<EventsPage>> {
        async move {
            let attribute = LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::AccessKeyId)
                .attribute_value(access_key_id)
                .build()
                .map_err(|e| AwsError::new("LookupEvents", "InvalidParameter", e.to_string()))?;
            let out = self
                .0
                .lookup_events()
                .lookup_attributes(attribute)
                .start_time(smithy_time(start))
                .end_time(smithy_time(end))
                .max_results(PAGE_SIZE)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|e| from_sdk("LookupEvents", e))?;
            Ok(EventsPage {
                events: out
                    .events()
                    .iter()
                    .map(|e| LookedUpEvent {
                        event_id: e.event_id().map(str::to_string),
                        event_name: e.event_name().map(str::to_string),
                        access_key_id: e.access_key_id().map(str::to_string),
                        cloud_trail_event: e.cloud_trail_event().map(str::to_string),
                    })
                    .collect(),
                next_token: out.next_token().map(str::to_string),
            })
        }
        .boxed()
    }
}
