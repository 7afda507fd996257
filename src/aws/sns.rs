//! SNS through `aws_sdk_sns`.

use super::{AwsResult, Notifier, Publication};
use crate::error::{from_sdk, AwsError};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use futures::future::BoxFuture;
use futures::FutureExt;

pub struct SnsClient(pub Client);

impl Notifier for SnsClient {
    fn publish<'a>(&'a self, p: &'a Publication) -> BoxFuture<'a, AwsResult<String>> {
        async move {
            let mut req = self
                .0
                .publish()
                .topic_arn(&p.topic_arn)
                .subject(&p.subject)
                .message(&p.message)
                .message_structure("json");
            for (name, value) in &p.attributes {
                let attr = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map_err(|e| {
                        AwsError::new("Publish", "InvalidMessageAttribute", e.to_string())
                    })?;
                req = req.message_attributes(name, attr);
            }
            let out = req.send().await.map_err(|e| from_sdk("Publish", e))?;
            Ok(out.message_id().unwrap_or_default().to_string())
        }
        .boxed()
    }
}
