//! [`FileRecords`] on DynamoDB: partition key `owner_id`, sort key `file_id` (UUIDv7, so a
//! descending query lists newest first), TTL attribute `expires_at`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::aws::store_error;
use crate::ids::{FileId, OwnerId};
use crate::records::{Applied, FileRecord, FileRecords, FileStatus, Outcome, Page, StoreError};
use crate::sequencer::Sequencer;
use crate::time::{parse_rfc3339, rfc3339};

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
    let mut item = key(&record.owner, record.file_id);
    item.insert("filename".into(), s(&record.filename));
    item.insert("content_type".into(), s(&record.content_type));
    item.insert("size".into(), n(record.size));
    item.insert("status".into(), s(record.status.as_str()));
    item.insert("created_at".into(), s(rfc3339(record.created_at)));
    let optional = [
        ("sha256", record.sha256.clone().map(s)),
        ("reason", record.reason.clone().map(s)),
        ("uploaded_at", record.uploaded_at.map(rfc3339).map(s)),
        ("etag", record.etag.clone().map(s)),
        (
            "sequencer",
            record.sequencer.as_ref().map(|q| s(q.as_str())),
        ),
        (TTL_ATTRIBUTE, record.expires_at.map(n)),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.into(), value);
        }
    }
    item
}

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
    Ok(FileRecord {
        owner: OwnerId::from_encoded(&required(PARTITION_KEY)?).map_err(|_| bad(PARTITION_KEY))?,
        file_id: FileId::parse(&required(SORT_KEY)?).map_err(|_| bad(SORT_KEY))?,
        filename: required("filename")?,
        content_type: required("content_type")?,
        size: number("size")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("size"))?,
        sha256: text("sha256"),
        status: FileStatus::parse(&required("status")?).ok_or_else(|| bad("status"))?,
        reason: text("reason"),
        created_at: parse_rfc3339(&required("created_at")?).ok_or_else(|| bad("created_at"))?,
        uploaded_at: match text("uploaded_at") {
            Some(t) => Some(parse_rfc3339(&t).ok_or_else(|| bad("uploaded_at"))?),
            None => None,
        },
        etag: text("etag"),
        sequencer: match text("sequencer") {
            Some(t) => Some(Sequencer::from_stored(&t).map_err(|_| bad("sequencer"))?),
            None => None,
        },
        expires_at: match number(TTL_ATTRIBUTE) {
            Some(t) => Some(t.parse().map_err(|_| bad(TTL_ATTRIBUTE))?),
            None => None,
        },
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
                .expression_attribute_values(":size", n(size))
                .expression_attribute_values(":etag", s(etag))
                .expression_attribute_values(":up", s(rfc3339(*uploaded_at))),
            Outcome::Rejected { reason, expires_at } => update
                .update_expression("SET #seq = :seq, #status = :status, #reason = :reason, #ttl = :ttl")
                .expression_attribute_names("#reason", "reason")
                .expression_attribute_values(":status", s(FileStatus::Rejected.as_str()))
                .expression_attribute_values(":reason", s(reason))
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
    use chrono::{TimeZone, Utc};

    #[test]
    fn items_round_trip() {
        let record = FileRecord {
            owner: OwnerId::from_sub("a/b").unwrap(),
            file_id: FileId::generate(),
            filename: "写真.png".into(),
            content_type: "image/png".into(),
            size: 42,
            sha256: Some("x".into()),
            status: FileStatus::Ready,
            reason: None,
            created_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            uploaded_at: Some(Utc.timestamp_opt(1_700_000_060, 0).unwrap()),
            etag: Some("abc".into()),
            sequencer: Some(Sequencer::parse("0055AED6DCD90281E5").unwrap()),
            expires_at: Some(1_700_086_400),
        };
        assert_eq!(from_item(&to_item(&record)).unwrap(), record);
    }

    #[test]
    fn damaged_items_are_errors_not_panics() {
        let mut item = key(&OwnerId::from_sub("a").unwrap(), FileId::generate());
        assert!(from_item(&item).is_err());
        item.insert("filename".into(), s("f"));
        item.insert("content_type".into(), s("image/png"));
        item.insert("size".into(), s("not a number"));
        assert!(from_item(&item).is_err());
    }
}
