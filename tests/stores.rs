//! Every store path against the emulators, through the very adapters the functions use: the
//! DynamoDB records (conditional create, the sequencer-guarded pending→ready/rejected
//! writes, TTL removal, newest-first paging, delete, damaged items), the S3 objects (HEAD
//! asks for the checksum; the local S3, like S3, returns it only when asked) and the
//! Secrets Manager source.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeZone, Utc};
use integration_tests::{BUCKET, Stack};
use private_uploads::local::stack::{SECRET, TABLE};
use shared::aws::dynamodb::{DynamoRecords, TTL_ATTRIBUTE};
use shared::aws::s3::S3Objects;
use shared::aws::secretsmanager::SecretsManagerSource;
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::record::{
    FileRecord, FileStatus, Outcome, Rejection, RejectionReason, UploadMode,
};
use shared::domain::sequencer::Sequencer;
use shared::domain::upload::{ByteSize, ContentType, Filename, Sha256Checksum, UploadRequest};
use shared::ports::{Applied, FileRecords, ObjectStore, SecretSource, StoreError};

/// Limits no test reaches.
const UNLIMITED: shared::domain::lifecycle::QuotaLimits = shared::domain::lifecycle::QuotaLimits {
    max_bytes: u64::MAX / 4,
    max_files: u64::MAX / 4,
};

fn pending(owner: &OwnerId, created: i64) -> FileRecord {
    let upload = UploadRequest {
        filename: Filename::parse("写真 1.png").unwrap(),
        content_type: ContentType::parse("image/png").unwrap(),
        size: ByteSize::new(10),
        sha256: Some(Sha256Checksum::from_digest(&[9; 32])),
    };
    FileRecord::pending(
        ObjectKey::new(owner.clone(), FileId::generate()),
        &upload,
        UploadMode::Put,
        Utc.timestamp_opt(created, 0).unwrap(),
        created + 3600,
    )
}

fn seq(s: &str) -> Sequencer {
    Sequencer::parse(s).unwrap()
}

fn ready(size: u64) -> Outcome {
    Outcome::Ready {
        size: ByteSize::new(size),
        etag: "efc76d557de7077b1deabc4c3755cac5".into(),
        uploaded_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
    }
}

/// The item as DynamoDB holds it, to see attributes the record type does not show.
async fn raw_item(stack: &Stack, record: &FileRecord) -> Option<HashMap<String, AttributeValue>> {
    aws_sdk_dynamodb::Client::new(&stack.aws)
        .get_item()
        .table_name(TABLE)
        .key("owner_id", AttributeValue::S(record.owner().to_string()))
        .key("file_id", AttributeValue::S(record.file_id().to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_records_apply_every_write_conditionally() {
    let stack = Stack::start().await;
    let records = DynamoRecords::from_config(&stack.aws, TABLE);
    let alice = OwnerId::from_sub("alice").unwrap();
    let record = pending(&alice, 1_800_000_000);

    records.create(&record, &UNLIMITED).await.unwrap();
    assert_eq!(
        records.get(&alice, record.file_id()).await.unwrap(),
        Some(record.clone()),
        "a record reads back as written"
    );
    assert_eq!(
        records.create(&record, &UNLIMITED).await,
        Ok(()),
        "the same create again (a retry whose first answer was lost) is its own write"
    );
    assert_eq!(
        raw_item(&stack, &record).await.unwrap()[TTL_ATTRIBUTE],
        AttributeValue::N("1800003600".into()),
        "a pending record expires"
    );

    // pending → ready: applied once, the TTL removed.
    assert_eq!(
        records
            .apply(&alice, record.file_id(), &seq("0B"), &ready(10), &UNLIMITED)
            .await
            .unwrap(),
        Applied::Yes
    );
    let item = raw_item(&stack, &record).await.unwrap();
    assert!(
        !item.contains_key(TTL_ATTRIBUTE),
        "a ready record never expires: {item:?}"
    );
    let mut expected = record.clone();
    expected.apply(&seq("0B"), &ready(10));
    let now_ready = records
        .get(&alice, record.file_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now_ready, expected);
    assert_eq!(now_ready.status(), FileStatus::Ready);

    // The same event again, and an older one after it: nothing changes.
    let rejected = Outcome::Rejected {
        rejection: Rejection::new(
            RejectionReason::SizeMismatch,
            "declared 10 bytes, received 11 bytes",
        ),
        expires_at: 1_900_000_000,
    };
    for stale in ["0B", "0A", "0AFFFFFFFFFFFFFFFF"] {
        assert_eq!(
            records
                .apply(&alice, record.file_id(), &seq(stale), &rejected, &UNLIMITED)
                .await
                .unwrap(),
            Applied::Superseded,
            "{stale}"
        );
        assert_eq!(
            records.get(&alice, record.file_id()).await.unwrap(),
            Some(expected.clone())
        );
    }

    // A newer event wins: rejected, with its reason and a TTL again.
    assert_eq!(
        records
            .apply(&alice, record.file_id(), &seq("0C"), &rejected, &UNLIMITED)
            .await
            .unwrap(),
        Applied::Yes
    );
    let item = raw_item(&stack, &record).await.unwrap();
    assert_eq!(item[TTL_ATTRIBUTE], AttributeValue::N("1900000000".into()));
    assert_eq!(
        item["reason"],
        AttributeValue::S("size_mismatch: declared 10 bytes, received 11 bytes".into())
    );
    expected.apply(&seq("0C"), &rejected);
    assert_eq!(
        records.get(&alice, record.file_id()).await.unwrap(),
        Some(expected)
    );

    // An event for a record that is not there creates nothing.
    let ghost = pending(&alice, 1_800_000_001);
    assert_eq!(
        records
            .apply(&alice, ghost.file_id(), &seq("0D"), &ready(10), &UNLIMITED)
            .await
            .unwrap(),
        Applied::Superseded
    );
    assert_eq!(raw_item(&stack, &ghost).await, None);

    // Delete, twice: the second is not an error.
    records.delete(&alice, record.file_id()).await.unwrap();
    assert_eq!(records.get(&alice, record.file_id()).await.unwrap(), None);
    records.delete(&alice, record.file_id()).await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_lists_newest_first_across_pages_and_owners_stay_apart() {
    let stack = Stack::start().await;
    let records = DynamoRecords::from_config(&stack.aws, TABLE);
    let alice = OwnerId::from_sub("alice").unwrap();
    let alice2 = OwnerId::from_sub("alice2").unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let record = pending(&alice, 1_800_000_000 + i);
        records.create(&record, &UNLIMITED).await.unwrap();
        ids.push(record.file_id());
        records
            .create(&pending(&alice2, 1_800_000_000 + i), &UNLIMITED)
            .await
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    ids.reverse();

    let mut seen = Vec::new();
    let mut before = None;
    let mut pages = 0;
    loop {
        let page = records.list(&alice, 3, before).await.unwrap();
        pages += 1;
        assert!(page.records.len() <= 3);
        assert!(page.records.iter().all(|r| r.owner() == &alice));
        seen.extend(page.records.iter().map(FileRecord::file_id));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
        assert!(pages < 10, "the cursor must end");
    }
    assert_eq!(seen, ids, "newest first, each once");
    assert_eq!(pages, 3);
    let empty = records
        .list(&OwnerId::from_sub("nobody").unwrap(), 3, None)
        .await
        .unwrap();
    assert!(empty.records.is_empty() && empty.next.is_none());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_items_and_outages_are_told_apart() {
    let mut stack = Stack::start().await;
    let records = DynamoRecords::from_config(&stack.aws, TABLE);
    let alice = OwnerId::from_sub("alice").unwrap();
    let id = FileId::generate();
    aws_sdk_dynamodb::Client::new(&stack.aws)
        .put_item()
        .table_name(TABLE)
        .item("owner_id", AttributeValue::S(alice.to_string()))
        .item("file_id", AttributeValue::S(id.to_string()))
        .item("filename", AttributeValue::S("a.png".into()))
        .item("content_type", AttributeValue::S("not a type".into()))
        .send()
        .await
        .unwrap();
    let damaged = records.get(&alice, id).await.unwrap_err();
    assert!(matches!(damaged, StoreError::Failed(_)), "{damaged}");
    assert!(!damaged.is_retryable());

    let secrets = SecretsManagerSource::from_config(&stack.aws, "no-such-secret");
    let missing = secrets.fetch().await.unwrap_err();
    assert!(
        matches!(missing, StoreError::Failed(ref m) if m.contains("ResourceNotFoundException")),
        "{missing}"
    );
    let secret = SecretsManagerSource::from_config(&stack.aws, SECRET)
        .fetch()
        .await
        .unwrap();
    assert!(secret.contains("\"key_pair_id\""));

    stack.backend.moto.kill().await;
    let down = records.get(&alice, id).await.unwrap_err();
    assert!(down.is_retryable(), "{down}");
    assert!(secrets.fetch().await.unwrap_err().is_retryable());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_head_that_checks_an_upload_asks_s3_for_its_checksum() {
    let stack = Stack::start().await;
    let key = format!("users/alice/{}", FileId::generate());
    let body = b"checksummed".to_vec();
    let checksum = Sha256Checksum::from_digest(&{
        use sha2::Digest as _;
        sha2::Sha256::digest(&body).into()
    });
    stack
        .s3_client
        .put_object()
        .bucket(BUCKET)
        .key(&key)
        .content_type("text/plain")
        .checksum_sha256(checksum.as_str())
        .body(body.into())
        .send()
        .await
        .unwrap();

    // The local S3 behaves as S3 does: no checksum unless the request asks for it...
    let plain = stack
        .s3_client
        .head_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.checksum_sha256, None);
    // ...so the adapter's HEAD only sees it because it asks.
    let objects = S3Objects::new(stack.s3_client.clone(), BUCKET);
    let info = objects.head(&key).await.unwrap().unwrap();
    assert_eq!(info.sha256.as_deref(), Some(checksum.as_str()));
    assert_eq!(info.size, ByteSize::new(11));
    assert_eq!(info.content_type.as_deref(), Some("text/plain"));

    objects.delete(&key).await.unwrap();
    assert_eq!(objects.head(&key).await.unwrap(), None);
    objects.delete(&key).await.unwrap();
    stack.stop().await;
}

/// A cancelled upload and a deleted file leave tombstones: hidden from the owner, their
/// quota given back, and every later write for the key refused. Both stores alike.
async fn tombstones_behave(records: &dyn FileRecords, store: &str) {
    let alice = OwnerId::from_sub("alice").unwrap();
    let now = Utc::now().timestamp();
    let limits = shared::domain::lifecycle::QuotaLimits {
        max_bytes: 100,
        max_files: 3,
    };
    // Ids in time order (UUIDv7), as the listing sorts them.
    let cancelled = pending(&alice, now);
    std::thread::sleep(std::time::Duration::from_millis(2));
    let deleted = pending(&alice, now + 1);
    std::thread::sleep(std::time::Duration::from_millis(2));
    let live = pending(&alice, now + 2);
    for record in [&cancelled, &deleted, &live] {
        records.create(record, &limits).await.unwrap();
    }
    // A create retried after its first answer was lost finds its own record: success, and
    // nothing reserved twice; a different record under the same id is refused.
    records.create(&live, &limits).await.unwrap();
    assert_eq!(
        records.usage(&alice).await.unwrap().reservations.len(),
        3,
        "{store}"
    );
    let upload = UploadRequest {
        filename: Filename::parse("other.png").unwrap(),
        content_type: ContentType::parse("image/png").unwrap(),
        size: ByteSize::new(20),
        sha256: None,
    };
    let other = FileRecord::pending(
        live.key().clone(),
        &upload,
        UploadMode::Put,
        Utc.timestamp_opt(now + 2, 0).unwrap(),
        now + 3600,
    );
    assert_eq!(
        records.create(&other, &limits).await,
        Err(StoreError::AlreadyExists),
        "{store}"
    );
    let applied = records
        .apply(&alice, deleted.file_id(), &seq("0B"), &ready(10), &limits)
        .await
        .unwrap();
    assert_eq!(applied, Applied::Yes, "{store}");

    records.delete(&alice, cancelled.file_id()).await.unwrap();
    records.delete(&alice, deleted.file_id()).await.unwrap();
    let after = Utc::now().timestamp();
    for (record, until) in [
        // A pending upload's tombstone outlives the upload's own expiry by a day.
        (&cancelled, (now + 3600 + 86_400)..=(now + 3600 + 86_400)),
        // A ready file's, a day from its delete.
        (&deleted, (now + 86_400)..=(after + 86_400)),
    ] {
        assert_eq!(
            records.get(&alice, record.file_id()).await.unwrap(),
            None,
            "{store}"
        );
        let stored = records
            .get_stored(&alice, record.file_id())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{store}: a tombstone"));
        assert_eq!(stored.status(), FileStatus::Deleted, "{store}");
        assert!(
            until.contains(&stored.expires_at().unwrap()),
            "{store}: {stored:?}"
        );
        // A late object event, an adoption, a second delete: nothing changes.
        for outcome in [ready(10), ready(11)] {
            let late = records
                .apply(&alice, record.file_id(), &seq("0F"), &outcome, &limits)
                .await
                .unwrap();
            assert_eq!(late, Applied::Superseded, "{store}");
        }
        let adopted = records
            .adopt(record, &seq("0F"), &ready(10), &limits)
            .await
            .unwrap();
        assert_eq!(adopted, Applied::Superseded, "{store}");
        records.delete(&alice, record.file_id()).await.unwrap();
        assert_eq!(
            records.get_stored(&alice, record.file_id()).await.unwrap(),
            Some(stored),
            "{store}"
        );
    }
    // Only the live upload counts and lists.
    let usage = records.usage(&alice).await.unwrap();
    assert_eq!((usage.bytes, usage.files), (0, 0), "{store}: {usage:?}");
    assert_eq!(
        usage.reservations.keys().copied().collect::<Vec<_>>(),
        [live.file_id()],
        "{store}"
    );
    let page = records.list(&alice, 10, None).await.unwrap();
    assert_eq!(page.records, std::slice::from_ref(&live), "{store}");
    // Counted like DynamoDB's Limit: a page of tombstones is empty but goes on.
    let page = records.list(&alice, 1, Some(live.file_id())).await.unwrap();
    assert!(page.records.is_empty(), "{store}: {page:?}");
    assert_eq!(page.next, Some(deleted.file_id()), "{store}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_uploads_and_deleted_files_leave_tombstones_in_both_stores() {
    let stack = Stack::start().await;
    tombstones_behave(&DynamoRecords::from_config(&stack.aws, TABLE), "DynamoDB").await;
    tombstones_behave(&shared::ports::MemoryRecords::default(), "memory").await;
    stack.stop().await;
}

/// The counts behind `POST /credentials`' hourly limit and a credential's object limit.
async fn counts_behave(records: &dyn FileRecords, store: &str) {
    use shared::domain::counters::{Counted, Counter};
    let alice = OwnerId::from_sub("alice").unwrap();
    let hourly = Counter::credentials_issued(2);
    let now = 1_800_000_000;
    let counted = |c: Counted| match c {
        Counted::Yes(tally) => Some(tally.count),
        Counted::Full { .. } => None,
    };
    assert_eq!(
        counted(records.count(&alice, &hourly, now).await.unwrap()),
        Some(1)
    );
    assert_eq!(
        counted(records.count(&alice, &hourly, now + 10).await.unwrap()),
        Some(2)
    );
    assert_eq!(
        records.count(&alice, &hourly, now + 20).await.unwrap(),
        Counted::Full { retry_after: 3580 },
        "{store}"
    );
    let bob = OwnerId::from_sub("bob").unwrap();
    assert_eq!(
        counted(records.count(&bob, &hourly, now).await.unwrap()),
        Some(1),
        "{store}"
    );
    assert_eq!(
        counted(records.count(&alice, &hourly, now + 3600).await.unwrap()),
        Some(1),
        "{store}: a new window"
    );
    // Counts are no files: the listing and the usage do not see them.
    assert!(
        records
            .list(&alice, 10, None)
            .await
            .unwrap()
            .records
            .is_empty(),
        "{store}"
    );
    assert_eq!(records.usage(&alice).await.unwrap().files, 0, "{store}");

    // Twenty counted at once, ten fit: exactly ten are counted.
    let per_credential = Counter::objects_of_credential("0123456789ab", 10);
    let answers = futures_util::future::join_all(
        (0..20).map(|_| records.count(&alice, &per_credential, now)),
    )
    .await;
    let yes = answers
        .iter()
        .filter(|a| matches!(a, Ok(Counted::Yes(_))))
        .count();
    let full = answers
        .iter()
        .filter(|a| matches!(a, Ok(Counted::Full { .. })))
        .count();
    assert_eq!(
        (yes, full),
        (10, answers.len() - 10),
        "{store}: {answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_hold_their_limit_under_parallel_writes_in_both_stores() {
    let stack = Stack::start().await;
    counts_behave(&DynamoRecords::from_config(&stack.aws, TABLE), "DynamoDB").await;
    counts_behave(&shared::ports::MemoryRecords::default(), "memory").await;
    stack.stop().await;
}
