//! Each user's quota: bytes and files.
//!
//! Issuing an upload reserves its declared size; the reservation holds until the upload's
//! record would expire. When the object arrives the reservation is settled into the user's
//! ready bytes and files (refused if that goes over), and it is released when the upload is
//! rejected or aborted; deleting a ready file gives its bytes back. Expired reservations
//! (uploads that never arrived) are dropped whenever the usage is next changed, so nothing
//! needs to watch the table's TTL deletions.
//!
//! These are plain functions on [`Usage`]; the stores apply them atomically (a conditional
//! write on the usage's version, retried on conflict), so parallel requests of one user
//! cannot overshoot.

use std::collections::BTreeMap;

use super::config::{ConfigError, Env, bounded, parsed_or};
use super::ids::FileId;

/// The limits of one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaLimits {
    pub max_bytes: u64,
    pub max_files: u64,
}

impl QuotaLimits {
    /// Limits that refuse nothing: for changes that only give back (a delete).
    pub const UNLIMITED: Self = Self {
        max_bytes: u64::MAX,
        max_files: u64::MAX,
    };

    /// `QUOTA_BYTES` (default 10 GiB) and `QUOTA_FILES` (default 10,000).
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            max_bytes: parsed_or(
                env,
                "QUOTA_BYTES",
                10 * 1024 * 1024 * 1024,
                bounded(1, u64::MAX / 2),
            )?,
            max_files: parsed_or(env, "QUOTA_FILES", 10_000, bounded(1, 1_000_000))?,
        })
    }
}

/// Uploads in progress a user may have at once, whatever the quota: this bounds the size of
/// the usage item (DynamoDB items are at most 400 KB).
pub const MAX_PENDING_UPLOADS: usize = 1000;

/// An issued upload not settled yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub bytes: u64,
    /// Epoch seconds; after this the upload can no longer arrive and the bytes are free.
    pub expires_at: i64,
}

/// What a user has: ready bytes and files, and reservations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub files: u64,
    pub reservations: BTreeMap<FileId, Reservation>,
}

/// Why an upload does not fit, with the numbers the client is told.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "quota exceeded: {used_bytes} of {max_bytes} bytes and {used_files} of {max_files} files are in use or reserved; this upload needs {requested_bytes} bytes{more}"
)]
pub struct QuotaExceeded {
    pub used_bytes: u64,
    pub max_bytes: u64,
    pub used_files: u64,
    pub max_files: u64,
    pub requested_bytes: u64,
    /// Extra words when the limit hit is the number of uploads in progress.
    pub more: &'static str,
}

impl Usage {
    /// Forget reservations that can no longer be settled.
    fn drop_expired(&mut self, now: i64) {
        self.reservations.retain(|_, r| r.expires_at > now);
    }

    /// Bytes and files in use or reserved.
    pub fn in_use(&self, now: i64) -> (u64, u64) {
        let live = self.reservations.values().filter(|r| r.expires_at > now);
        let (bytes, files) =
            live.fold((0u64, 0u64), |(b, f), r| (b.saturating_add(r.bytes), f + 1));
        (
            self.bytes.saturating_add(bytes),
            self.files.saturating_add(files),
        )
    }

    fn check(&self, bytes: u64, now: i64, limits: &QuotaLimits) -> Result<(), QuotaExceeded> {
        let (used_bytes, used_files) = self.in_use(now);
        let too_many_pending = self.reservations.len() >= MAX_PENDING_UPLOADS;
        if used_bytes.saturating_add(bytes) > limits.max_bytes
            || used_files.saturating_add(1) > limits.max_files
            || too_many_pending
        {
            return Err(QuotaExceeded {
                used_bytes,
                max_bytes: limits.max_bytes,
                used_files,
                max_files: limits.max_files,
                requested_bytes: bytes,
                more: if too_many_pending {
                    " (at most 1000 uploads may be in progress at once)"
                } else {
                    ""
                },
            });
        }
        Ok(())
    }

    /// Reserve `bytes` for a new upload until `expires_at`.
    pub fn reserve(
        &mut self,
        file_id: FileId,
        bytes: u64,
        expires_at: i64,
        now: i64,
        limits: &QuotaLimits,
    ) -> Result<(), QuotaExceeded> {
        self.drop_expired(now);
        self.reservations.remove(&file_id);
        self.check(bytes, now, limits)?;
        self.reservations
            .insert(file_id, Reservation { bytes, expires_at });
        Ok(())
    }

    /// The object arrived with `bytes`: count it as a ready file, in place of its
    /// reservation (if any: uploads by temporary credentials have none). Refused when it
    /// does not fit; the reservation is released either way.
    pub fn settle(
        &mut self,
        file_id: FileId,
        bytes: u64,
        now: i64,
        limits: &QuotaLimits,
    ) -> Result<(), QuotaExceeded> {
        self.drop_expired(now);
        self.reservations.remove(&file_id);
        self.check(bytes, now, limits)?;
        self.bytes = self.bytes.saturating_add(bytes);
        self.files = self.files.saturating_add(1);
        Ok(())
    }

    /// The upload will not arrive (rejected, aborted, or its pending record deleted).
    pub fn release(&mut self, file_id: FileId, now: i64) {
        self.drop_expired(now);
        self.reservations.remove(&file_id);
    }

    /// A ready file of `bytes` was deleted.
    pub fn remove(&mut self, bytes: u64, now: i64) {
        self.drop_expired(now);
        self.bytes = self.bytes.saturating_sub(bytes);
        self.files = self.files.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: QuotaLimits = QuotaLimits {
        max_bytes: 100,
        max_files: 3,
    };

    #[test]
    fn reservations_count_until_they_expire() {
        let mut usage = Usage::default();
        let (a, b, c) = (FileId::generate(), FileId::generate(), FileId::generate());
        usage.reserve(a, 60, 1_000, 0, &LIMITS).unwrap();
        let err = usage.reserve(b, 41, 1_000, 0, &LIMITS).unwrap_err();
        assert_eq!(
            (err.used_bytes, err.max_bytes, err.requested_bytes),
            (60, 100, 41)
        );
        assert!(
            err.to_string()
                .starts_with("quota exceeded: 60 of 100 bytes"),
            "{err}"
        );
        usage.reserve(b, 40, 1_000, 0, &LIMITS).unwrap();
        assert_eq!(usage.in_use(0), (100, 2));
        // After a's upload could no longer arrive, its bytes are free again.
        assert_eq!(usage.in_use(1_000), (0, 0));
        usage.reserve(c, 90, 2_000, 1_000, &LIMITS).unwrap();
        assert!(
            !usage.reservations.contains_key(&a),
            "expired ones are dropped"
        );
    }

    #[test]
    fn settling_replaces_the_reservation_and_release_frees_it() {
        let mut usage = Usage::default();
        let (a, b) = (FileId::generate(), FileId::generate());
        usage.reserve(a, 50, 1_000, 0, &LIMITS).unwrap();
        usage.settle(a, 50, 10, &LIMITS).unwrap();
        assert_eq!((usage.bytes, usage.files), (50, 1));
        assert!(usage.reservations.is_empty());
        assert_eq!(usage.in_use(10), (50, 1));
        // An arrival with no reservation (temporary credentials) that does not fit.
        let err = usage.settle(b, 51, 10, &LIMITS).unwrap_err();
        assert_eq!(err.used_bytes, 50);
        assert_eq!((usage.bytes, usage.files), (50, 1), "nothing counted");
        usage.reserve(b, 10, 1_000, 10, &LIMITS).unwrap();
        usage.release(b, 20);
        assert_eq!(usage.in_use(20), (50, 1));
        usage.remove(50, 30);
        assert_eq!(usage.in_use(30), (0, 0));
    }

    #[test]
    fn files_are_counted_too() {
        let mut usage = Usage::default();
        for _ in 0..3 {
            usage
                .reserve(FileId::generate(), 1, 1_000, 0, &LIMITS)
                .unwrap();
        }
        let err = usage
            .reserve(FileId::generate(), 1, 1_000, 0, &LIMITS)
            .unwrap_err();
        assert_eq!((err.used_files, err.max_files), (3, 3));
    }

    #[test]
    fn in_progress_uploads_are_bounded() {
        let limits = QuotaLimits {
            max_bytes: u64::MAX,
            max_files: u64::MAX,
        };
        let mut usage = Usage::default();
        for _ in 0..MAX_PENDING_UPLOADS {
            usage
                .reserve(FileId::generate(), 1, 1_000, 0, &limits)
                .unwrap();
        }
        let err = usage
            .reserve(FileId::generate(), 1, 1_000, 0, &limits)
            .unwrap_err();
        assert!(err.to_string().contains("in progress"), "{err}");
    }
}
