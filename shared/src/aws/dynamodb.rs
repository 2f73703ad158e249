//! [`FileRecords`] on DynamoDB: partition key `owner_id`, sort key `file_id` (UUIDv7, so a
//! descending query lists newest first), TTL attribute `expires_at`.
//!
//! Each owner's quota usage is one more item in the owner's partition, sort key
//! [`USAGE_SORT_KEY`] (it sorts before every file id, and listings start after it), and
//! each count ([`Counter`]) one more. This adapter is the ledger only: items mapped to and
//! from records, usage and tallies, reads, and conditional writes (a record and its usage in
//! one transaction, the usage carrying a version). What to write, and trying again when a
//! write lost a race, is [`FileRecords`]'s own, written once for both stores.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::errors::store_error;
use super::sdk::SdkConfig;
use crate::domain::counters::{Counter, Tally};
use crate::domain::ids::{FileId, ObjectKey, OwnerId};
use crate::domain::lifecycle::{Reservation, Usage};
use crate::domain::parts::Crc64Checksum;
use crate::domain::record::{FileRecord, FileStatus, Rejection, UploadMode};
use crate::domain::sequencer::Sequencer;
use crate::domain::time::{parse_rfc3339, rfc3339};
use crate::domain::upload::{ByteSize, ContentType, Filename, Sha256Checksum};
use crate::ports::records::{Committed, UsageVersion};
use crate::ports::{FileRecords, Page, StoreError};

pub const PARTITION_KEY: &str = "owner_id";
pub const SORT_KEY: &str = "file_id";
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The sort key of an owner's usage item: `#` sorts before the digits every file id
/// starts with.
pub const USAGE_SORT_KEY: &str = "#usage";
/// A count's attributes ([`Counter`]): how many, and when its window ends.
const COUNT: &str = "count";
const WINDOW_ENDS: &str = "window_ends";
/// Listings start here, after the usage item.
const FIRST_FILE_ID: &str = "0";
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
        let config = aws_sdk_dynamodb::config::Builder::from(aws)
            .interceptor(super::xray::XRayCalls::from_env())
            .build();
        Self::new(Client::from_conf(config), table)
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
    item.insert("mode".into(), s(record.mode().as_str()));
    let optional = [
        ("upload_id", record.mode().upload_id().map(s)),
        ("part_size", record.mode().part_size().map(n)),
        ("crc64nvme", record.crc64nvme().map(|c| s(c.as_str()))),
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
        crc64nvme: text("crc64nvme")
            .map(|t| Crc64Checksum::parse(&t).map_err(|_| bad("crc64nvme")))
            .transpose()?,
        // Records written before upload modes existed were all presigned PUTs.
        mode: UploadMode::parse(
            text("mode").as_deref().unwrap_or("put"),
            text("upload_id"),
            number("part_size").and_then(|v| v.parse().ok()),
        )
        .ok_or_else(|| bad("mode"))?,
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

/// The usage item: ready bytes and files, reservations, and the version it was read at.
fn usage_item(owner: &OwnerId, usage: &Usage, version: u64) -> Item {
    let reservations: HashMap<String, AttributeValue> = usage
        .reservations
        .iter()
        .map(|(id, r)| {
            let entry = HashMap::from([
                ("b".to_owned(), n(r.bytes)),
                ("e".to_owned(), n(r.expires_at)),
            ]);
            (id.to_string(), AttributeValue::M(entry))
        })
        .collect();
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(owner.as_str())),
        (SORT_KEY.to_owned(), s(USAGE_SORT_KEY)),
        ("bytes".to_owned(), n(usage.bytes)),
        ("files".to_owned(), n(usage.files)),
        ("reservations".to_owned(), AttributeValue::M(reservations)),
        ("version".to_owned(), n(version)),
    ])
}

fn usage_from_item(item: &Item) -> Result<(Usage, u64), StoreError> {
    let bad =
        |field: &str| StoreError::Failed(format!("stored usage has a bad or missing {field}"));
    let number = |value: Option<&AttributeValue>, field: &str| -> Result<u64, StoreError> {
        value
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(field))
    };
    let mut reservations = BTreeMap::new();
    if let Some(entries) = item.get("reservations") {
        let entries = entries.as_m().map_err(|_| bad("reservations"))?;
        for (id, entry) in entries {
            let entry = entry.as_m().map_err(|_| bad("reservations"))?;
            let file_id = FileId::parse(id).map_err(|_| bad("reservations"))?;
            let expires_at = i64::try_from(number(entry.get("e"), "reservations")?)
                .map_err(|_| bad("reservations"))?;
            reservations.insert(
                file_id,
                Reservation {
                    bytes: number(entry.get("b"), "reservations")?,
                    expires_at,
                },
            );
        }
    }
    Ok((
        Usage {
            bytes: number(item.get("bytes"), "bytes")?,
            files: number(item.get("files"), "files")?,
            reservations,
        },
        number(item.get("version"), "version")?,
    ))
}

fn counter_key(owner: &OwnerId, counter: &Counter) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(owner.as_str())),
        (SORT_KEY.to_owned(), s(counter.name())),
    ])
}

fn usage_key(owner: &OwnerId) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(owner.as_str())),
        (SORT_KEY.to_owned(), s(USAGE_SORT_KEY)),
    ])
}

impl DynamoRecords {
    async fn read(&self, key: Item, operation: &str) -> Result<Option<Item>, StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|err| store_error("DynamoDB", operation, &err))
    }

    /// Write the record, on condition that it is as it was read.
    fn record_write(
        &self,
        before: Option<&FileRecord>,
        after: &FileRecord,
    ) -> Result<TransactWriteItem, StoreError> {
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Failed(e.to_string());
        let (condition, values): (&str, Vec<(&str, AttributeValue)>) = match before {
            None => ("attribute_not_exists(#pk)", vec![]),
            Some(before) => match before.sequencer() {
                Some(seq) => (
                    "attribute_exists(#pk) AND #status = :status AND #seq = :seq",
                    vec![
                        (":status", s(before.status().as_str())),
                        (":seq", s(seq.as_str())),
                    ],
                ),
                None => (
                    "attribute_exists(#pk) AND #status = :status AND attribute_not_exists(#seq)",
                    vec![(":status", s(before.status().as_str()))],
                ),
            },
        };
        let names = |with_state: bool| {
            let mut names = HashMap::from([("#pk".to_owned(), PARTITION_KEY.to_owned())]);
            if with_state {
                names.insert("#status".to_owned(), "status".to_owned());
                names.insert("#seq".to_owned(), "sequencer".to_owned());
            }
            names
        };
        let values: Option<HashMap<String, AttributeValue>> = (!values.is_empty())
            .then(|| values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(after)))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names(before.is_some())))
            .set_expression_attribute_values(values)
            .build()
            .map_err(built)?;
        let item = TransactWriteItem::builder().put(put).build();
        Ok(item)
    }

    /// Write the usage, on condition that it is at the version it was read at.
    fn usage_write(
        &self,
        owner: &OwnerId,
        usage: &Usage,
        version: UsageVersion,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(usage_item(owner, usage, version.map_or(1, |v| v + 1))));
        put = match version {
            None => put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PARTITION_KEY),
            Some(version) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", n(version)),
        };
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(|e| StoreError::Failed(e.to_string()))?)
            .build())
    }
}

#[async_trait]
impl FileRecords for DynamoRecords {
    async fn load_usage(&self, owner: &OwnerId) -> Result<(Usage, UsageVersion), StoreError> {
        Ok(match self.read(usage_key(owner), "GetItem").await? {
            Some(item) => {
                let (usage, version) = usage_from_item(&item)?;
                (usage, Some(version))
            }
            None => (Usage::default(), None),
        })
    }

    /// One transaction: the record on condition that it is as read (its status and
    /// sequencer), the usage on condition that it is at the version read.
    async fn commit(
        &self,
        before: Option<&FileRecord>,
        after: &FileRecord,
        usage: &Usage,
        version: UsageVersion,
    ) -> Result<Committed, StoreError> {
        let record_write = self.record_write(before, after)?;
        let usage_write = self.usage_write(after.owner(), usage, version)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(record_write)
            .transact_items(usage_write)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Committed::Yes),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_transaction_canceled_exception()) =>
            {
                // The record or the usage moved since the read.
                Ok(Committed::Moved)
            }
            Err(err) => Err(store_error("DynamoDB", "TransactWriteItems", &err)),
        }
    }

    async fn pause(&self, wait: std::time::Duration) {
        tokio::time::sleep(wait).await;
    }

    async fn get_stored(
        &self,
        owner: &OwnerId,
        file_id: FileId,
    ) -> Result<Option<FileRecord>, StoreError> {
        self.read(key(owner, file_id), "GetItem")
            .await?
            .as_ref()
            .map(from_item)
            .transpose()
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
            .key_condition_expression("#pk = :owner AND #sk >= :first")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":owner", s(owner.as_str()))
            .expression_attribute_values(":first", s(FIRST_FILE_ID))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(before.map(|b| key(owner, b)))
            .send()
            .await
            .map_err(|err| store_error("DynamoDB", "Query", &err))?;
        let mut records = out
            .items()
            .iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        // Tombstones count towards the page's `Limit` (as a FilterExpression's would) and
        // are dropped here; `next` still continues after them.
        records.retain(FileRecord::is_live);
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

    async fn load_tally(
        &self,
        owner: &OwnerId,
        counter: &Counter,
    ) -> Result<Option<Tally>, StoreError> {
        let number = |item: &Item, name: &str| -> Result<i64, StoreError> {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| StoreError::Failed(format!("count item without a usable {name}")))
        };
        match self.read(counter_key(owner, counter), "GetItem").await? {
            Some(item) => Ok(Some(Tally {
                count: u64::try_from(number(&item, COUNT)?).unwrap_or(0),
                window_ends: number(&item, WINDOW_ENDS)?,
            })),
            None => Ok(None),
        }
    }

    async fn commit_tally(
        &self,
        owner: &OwnerId,
        counter: &Counter,
        before: Option<Tally>,
        after: Tally,
    ) -> Result<Committed, StoreError> {
        let mut item = counter_key(owner, counter);
        item.insert(COUNT.to_owned(), n(after.count));
        item.insert(WINDOW_ENDS.to_owned(), n(after.window_ends));
        // Kept a day past its window, then DynamoDB's TTL removes it.
        item.insert(
            TTL_ATTRIBUTE.to_owned(),
            n(after.window_ends.saturating_add(86_400)),
        );
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = match before {
            None => put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PARTITION_KEY),
            Some(old) => put
                .condition_expression("#c = :c AND #w = :w")
                .expression_attribute_names("#c", COUNT)
                .expression_attribute_names("#w", WINDOW_ENDS)
                .expression_attribute_values(":c", n(old.count))
                .expression_attribute_values(":w", n(old.window_ends)),
        };
        match put.send().await {
            Ok(_) => Ok(Committed::Yes),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Committed::Moved)
            }
            Err(err) => Err(store_error("DynamoDB", "PutItem", &err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::record::Outcome;
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
            UploadMode::Form,
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
    fn multipart_records_and_usage_round_trip() {
        use crate::domain::parts::{MultipartRequest, PartPlan};
        use crate::domain::upload::UploadRequest;
        let request = MultipartRequest {
            upload: UploadRequest {
                filename: Filename::parse("big.bin").unwrap(),
                content_type: ContentType::parse("application/pdf").unwrap(),
                size: ByteSize::new(12 << 20),
                sha256: None,
            },
            plan: PartPlan::new(ByteSize::new(12 << 20), None).unwrap(),
            crc64nvme: Some(Crc64Checksum::from_value(42)),
        };
        let key = ObjectKey::new(OwnerId::from_sub("a").unwrap(), FileId::generate());
        let record = FileRecord::pending_multipart(
            key.clone(),
            &request,
            "upload-1".into(),
            Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            1_700_086_400,
        );
        assert_eq!(from_item(&to_item(&record)).unwrap(), record);

        let mut usage = Usage {
            bytes: 7,
            files: 1,
            ..Usage::default()
        };
        usage.reservations.insert(
            key.file_id,
            Reservation {
                bytes: 12 << 20,
                expires_at: 1_700_086_400,
            },
        );
        let item = usage_item(&key.owner, &usage, 3);
        assert_eq!(usage_from_item(&item).unwrap(), (usage, 3));
        assert!(USAGE_SORT_KEY < FIRST_FILE_ID && FIRST_FILE_ID <= "0190");
    }

    #[test]
    fn records_from_before_upload_modes_read_as_puts() {
        let upload = crate::domain::upload::UploadRequest {
            filename: Filename::parse("a").unwrap(),
            content_type: ContentType::parse("image/png").unwrap(),
            size: ByteSize::new(1),
            sha256: None,
        };
        let key = ObjectKey::new(OwnerId::from_sub("a").unwrap(), FileId::generate());
        let record = FileRecord::pending(key, &upload, UploadMode::Put, Utc::now(), 1);
        let mut item = to_item(&record);
        item.remove("mode");
        assert_eq!(from_item(&item).unwrap().mode(), &UploadMode::Put);
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
