//! [`FileRecords`] on DynamoDB: partition key `owner_id`, sort key `file_id` (UUIDv7, so a
//! descending query lists newest first), TTL attribute `expires_at`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::errors::store_error;
use super::sdk::SdkConfig;
use crate::domain::ids::{FileId, ObjectKey, OwnerId};
use crate::domain::record::{FileRecord, FileStatus, Outcome, Rejection};
use crate::domain::sequencer::Sequencer;
use crate::domain::time::{parse_rfc3339, rfc3339};
use crate::domain::upload::{ByteSize, ContentType, Filename, Sha256Checksum};
use crate::ports::{Applied, FileRecords, Page, StoreError};

pub const PARTITION_KEY: &str = "owner_id";
pub const SORT_KEY: &str = "file_id";
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub struct DynamoRecords {
    client: Client,
    table: String,
}

impl DynamoRecords {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn from_config(aws: &SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(aws), table)
    }
}

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(owner: &OwnerId, file_id: FileId) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(owner.as_str())),
        (SORT_KEY.to_owned(), s(file_id.to_string())),
    ])
}

fn to_item(record: &FileRecord) -> Item {
    let mut item = key(record.owner(), record.file_id());
    item.insert("filename".into(), s(record.filename().as_str()));
    item.insert("content_type".into(), s(record.content_type().as_str()));
    item.insert("size".into(), n(record.size()));
    item.insert("status".into(), s(record.status().as_str()));
    item.insert("created_at".into(), s(rfc3339(record.created_at())));
    let optional = [
        ("sha256", record.sha256().map(|c| s(c.as_str()))),
        ("reason", record.rejection().map(|r| s(r.to_string()))),
        ("uploaded_at", record.uploaded_at().map(rfc3339).map(s)),
        ("etag", record.etag().map(s)),
        ("sequencer", record.sequencer().map(|q| s(q.as_str()))),
        (TTL_ATTRIBUTE, record.expires_at().map(n)),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.into(), value);
        }
    }
    item
}

/// Rebuild a record from its item, parsing every field again: a damaged item is an error,
/// never a record holding values the domain would refuse.
fn from_item(item: &Item) -> Result<FileRecord, StoreError> {
    let bad =
        |field: &str| StoreError::Failed(format!("stored record has a bad or missing {field}"));
    let text = |field: &str| item.get(field).and_then(|v| v.as_s().ok()).cloned();
    let number = |field: &str| {
        item.get(field)
            .and_then(|v| v.as_n().ok())
            .map(String::as_str)
    };
    let required = |field: &str| text(field).ok_or_else(|| bad(field));
    let owner = OwnerId::from_encoded(&required(PARTITION_KEY)?).map_err(|_| bad(PARTITION_KEY))?;
    let file_id = FileId::parse(&required(SORT_KEY)?).map_err(|_| bad(SORT_KEY))?;
    Ok(FileRecord {
        key: ObjectKey::new(owner, file_id),
        filename: Filename::parse(&required("filename")?).map_err(|_| bad("filename"))?,
        content_type: ContentType::parse(&required("content_type")?)
            .map_err(|_| bad("content_type"))?,
        size: ByteSize::new(
            number("size")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("size"))?,
        ),
        sha256: text("sha256")
            .map(|t| Sha256Checksum::parse(&t).map_err(|_| bad("sha256")))
            .transpose()?,
        status: FileStatus::parse(&required("status")?).ok_or_else(|| bad("status"))?,
        rejection: text("reason")
            .map(|t| Rejection::parse(&t).ok_or_else(|| bad("reason")))
            .transpose()?,
        created_at: parse_rfc3339(&required("created_at")?).ok_or_else(|| bad("created_at"))?,
        uploaded_at: text("uploaded_at")
            .map(|t| parse_rfc3339(&t).ok_or_else(|| bad("uploaded_at")))
            .transpose()?,
        etag: text("etag"),
        sequencer: text("sequencer")
            .map(|t| Sequencer::from_stored(&t).map_err(|_| bad("sequencer")))
            .transpose()?,
        expires_at: number(TTL_ATTRIBUTE)
            .map(|t| t.parse().map_err(|_| bad(TTL_ATTRIBUTE)))
            .transpose()?,
    })
}

#[async_trait]
impl FileRecords for DynamoRecords {
    async fn create(&self, record: &FileRecord) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::AlreadyExists)
            }
            Err(err) => Err(store_error("PutItem", &err)),
        }
    }

    async fn get(
        &self,
        owner: &OwnerId,
        file_id: FileId,
    ) -> Result<Option<FileRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(owner, file_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| store_error("GetItem", &err))?;
        out.item.as_ref().map(from_item).transpose()
    }

    async fn list(
        &self,
        owner: &OwnerId,
        limit: u32,
        before: Option<FileId>,
    ) -> Result<Page, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :owner")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_values(":owner", s(owner.as_str()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(before.map(|b| key(owner, b)))
            .send()
            .await
            .map_err(|err| store_error("Query", &err))?;
        let records = out
            .items()
            .iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match out.last_evaluated_key() {
            Some(last) => Some(
                last.get(SORT_KEY)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|t| FileId::parse(t).ok())
                    .ok_or_else(|| {
                        StoreError::Failed("Query returned an unreadable LastEvaluatedKey".into())
                    })?,
            ),
            None => None,
        };
        Ok(Page { records, next })
    }

    async fn delete(&self, owner: &OwnerId, file_id: FileId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(owner, file_id)))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| store_error("DeleteItem", &err))
    }

    async fn apply(
        &self,
        owner: &OwnerId,
        file_id: FileId,
        sequencer: &Sequencer,
        outcome: &Outcome,
    ) -> Result<Applied, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(owner, file_id)))
            // Only an existing record, and only an event newer than the last one applied.
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#seq) OR #seq < :seq)",
            )
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#seq", "sequencer")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":seq", s(sequencer.as_str()))
            .return_values(ReturnValue::None);
        update = match outcome {
            Outcome::Ready { size, etag, uploaded_at } => update
                .update_expression(
                    "SET #seq = :seq, #status = :status, #size = :size, #etag = :etag, #up = :up REMOVE #ttl, #reason",
                )
                .expression_attribute_names("#size", "size")
                .expression_attribute_names("#etag", "etag")
                .expression_attribute_names("#up", "uploaded_at")
                .expression_attribute_names("#reason", "reason")
                .expression_attribute_values(":status", s(FileStatus::Ready.as_str()))
                .expression_attribute_values(":size", n(size.get()))
                .expression_attribute_values(":etag", s(etag))
                .expression_attribute_values(":up", s(rfc3339(*uploaded_at))),
            Outcome::Rejected { rejection, expires_at } => update
                .update_expression("SET #seq = :seq, #status = :status, #reason = :reason, #ttl = :ttl")
                .expression_attribute_names("#reason", "reason")
                .expression_attribute_values(":status", s(FileStatus::Rejected.as_str()))
                .expression_attribute_values(":reason", s(rejection.to_string()))
                .expression_attribute_values(":ttl", n(expires_at)),
        };
        match update.send().await {
            Ok(_) => Ok(Applied::Yes),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Applied::Superseded)
            }
            Err(err) => Err(store_error("UpdateItem", &err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::upload::UploadRequest;
    use chrono::{TimeZone, Utc};

    #[test]
    fn items_round_trip() {
        let upload = UploadRequest {
            filename: Filename::parse("写真.png").unwrap(),
            content_type: ContentType::parse("image/png").unwrap(),
            size: ByteSize::new(42),
            sha256: Some(Sha256Checksum::from_digest(&[3; 32])),
        };
        let key = ObjectKey::new(OwnerId::from_sub("a/b").unwrap(), FileId::generate());
        let mut record = FileRecord::pending(
            key,
            &upload,
            Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            1_700_086_400,
        );
        assert_eq!(from_item(&to_item(&record)).unwrap(), record);
        record.apply(
            &Sequencer::parse("0055AED6DCD90281E5").unwrap(),
            &Outcome::Rejected {
                rejection: Rejection::new(
                    crate::domain::record::RejectionReason::SizeMismatch,
                    "declared 42 bytes, received 43 bytes",
                ),
                expires_at: 1_700_090_000,
            },
        );
        assert_eq!(from_item(&to_item(&record)).unwrap(), record);
        record.apply(
            &Sequencer::parse("0055AED6DCD90281E6").unwrap(),
            &Outcome::Ready {
                size: ByteSize::new(42),
                etag: "abc".into(),
                uploaded_at: Utc.timestamp_opt(1_700_000_060, 0).unwrap(),
            },
        );
        assert_eq!(from_item(&to_item(&record)).unwrap(), record);
    }

    #[test]
    fn damaged_items_are_errors_not_panics() {
        let mut item = key(&OwnerId::from_sub("a").unwrap(), FileId::generate());
        assert!(from_item(&item).is_err());
        item.insert("filename".into(), s("f"));
        item.insert("content_type".into(), s("image/png"));
        item.insert("status".into(), s("ready"));
        item.insert("created_at".into(), s("2026-01-01T00:00:00Z"));
        item.insert("size".into(), s("not a number"));
        assert!(from_item(&item).is_err());
        item.insert("size".into(), n(5));
        assert!(from_item(&item).is_ok());
        for (field, value) in [
            ("content_type", "not a type"),
            ("filename", "a\nb"),
            ("sha256", "short"),
            ("reason", "made_up_reason"),
            ("status", "lost"),
        ] {
            let mut damaged = item.clone();
            damaged.insert(field.into(), s(value));
            assert!(from_item(&damaged).is_err(), "{field}");
        }
    }
}
