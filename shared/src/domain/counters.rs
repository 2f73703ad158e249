//! Counting what one owner does within a window of time: how many temporary credentials
//! they were given this hour (`POST /credentials` answers 429 past the limit), how many
//! objects one of those credentials added (record-ownership rejects the ones past it). The
//! rule is here; a store keeps each count beside the owner's records
//! ([`crate::ports::FileRecords::count`]) and commits the next one conditionally.

/// One kind of count: its name (a sort key of the owner's partition, before every file
/// id), how many fit in a window, and how long a window lasts from the first count in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    name: String,
    limit: u64,
    window_seconds: i64,
}

/// A count as stored: how many so far, and when the window ends (epoch seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub window_ends: i64,
}

/// What a count found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// Counted: this is the new tally.
    Yes(Tally),
    /// The window is full; it ends in this many seconds (at least 1).
    Full { retry_after: u64 },
}

/// How long a credential's object count is kept: longer than any credential lives (one hour
/// at most, role chaining's limit) plus a late event's delay.
const CREDENTIAL_WINDOW_SECONDS: i64 = 2 * 86_400;

impl Counter {
    /// `POST /credentials`: at most `per_hour` per owner in an hour.
    pub fn credentials_issued(per_hour: u64) -> Self {
        Self {
            name: "#count#credentials".into(),
            limit: per_hour,
            window_seconds: 3600,
        }
    }

    /// The objects the credential `id` may add (counted as they arrive).
    pub fn objects_of_credential(id: &str, limit: u64) -> Self {
        Self {
            name: format!("#count#credential#{id}"),
            limit,
            window_seconds: CREDENTIAL_WINDOW_SECONDS,
        }
    }

    /// The sort key the count is kept under.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// One more, from the tally stored (`None`: never counted): the window goes on if it
    /// has not ended, else a new one starts now.
    pub fn count(&self, stored: Option<Tally>, now: i64) -> Counted {
        match stored {
            Some(tally) if tally.window_ends > now => {
                if tally.count >= self.limit {
                    Counted::Full {
                        retry_after: u64::try_from(tally.window_ends - now).unwrap_or(1).max(1),
                    }
                } else {
                    Counted::Yes(Tally {
                        count: tally.count + 1,
                        window_ends: tally.window_ends,
                    })
                }
            }
            _ if self.limit == 0 => Counted::Full {
                retry_after: u64::try_from(self.window_seconds).unwrap_or(1).max(1),
            },
            _ => Counted::Yes(Tally {
                count: 1,
                window_ends: now.saturating_add(self.window_seconds),
            }),
        }
    }
}

/// Whether an owner whose unfinished multipart uploads were created at `initiated` (epoch
/// seconds) may start more: fewer than `limit`, or `Err(retry_after)` in seconds (at least
/// 1), when the bucket's lifecycle rule will have aborted the oldest. S3 ages an upload
/// `abort_days` from its creation and rounds up to the next midnight UTC.
pub fn unfinished_uploads_allow(
    initiated: &[i64],
    limit: u32,
    abort_days: u64,
    now: i64,
) -> Result<(), u64> {
    if initiated.len() < usize::try_from(limit).unwrap_or(usize::MAX) {
        return Ok(());
    }
    const DAY: i64 = 86_400;
    let oldest = initiated.iter().copied().min().unwrap_or(now);
    let due = oldest.saturating_add(i64::try_from(abort_days).unwrap_or(365).saturating_mul(DAY));
    let aborted = due
        .div_euclid(DAY)
        .saturating_add(i64::from(due.rem_euclid(DAY) != 0))
        .saturating_mul(DAY);
    Err(u64::try_from(aborted.saturating_sub(now))
        .unwrap_or(1)
        .max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_fills_then_frees_when_it_ends() {
        let hourly = Counter::credentials_issued(2);
        let first = hourly.count(None, 1_000);
        assert_eq!(
            first,
            Counted::Yes(Tally {
                count: 1,
                window_ends: 4_600
            })
        );
        let Counted::Yes(one) = first else {
            unreachable!()
        };
        let Counted::Yes(two) = hourly.count(Some(one), 2_000) else {
            panic!("the second fits")
        };
        assert_eq!(two.count, 2);
        assert_eq!(
            hourly.count(Some(two), 4_000),
            Counted::Full { retry_after: 600 }
        );
        assert_eq!(
            hourly.count(Some(two), 4_600),
            Counted::Yes(Tally {
                count: 1,
                window_ends: 8_200
            }),
            "a new window at its end"
        );
        assert_eq!(
            Counter::credentials_issued(0).count(None, 0),
            Counted::Full { retry_after: 3600 }
        );
    }

    #[test]
    fn unfinished_uploads_wait_for_the_lifecycle_rule() {
        let noon = 19_000 * 86_400 + 43_200;
        assert_eq!(unfinished_uploads_allow(&[noon; 2], 3, 1, noon), Ok(()));
        assert_eq!(unfinished_uploads_allow(&[], 1, 1, noon), Ok(()));
        // Created at noon with a one-day rule: aborted at the midnight after the next noon.
        assert_eq!(
            unfinished_uploads_allow(&[noon + 60, noon, noon + 120], 3, 1, noon + 3_600),
            Err(86_400 + 43_200 - 3_600)
        );
        let midnight = 19_000 * 86_400;
        assert_eq!(
            unfinished_uploads_allow(&[midnight], 1, 2, midnight),
            Err(2 * 86_400)
        );
        assert_eq!(
            unfinished_uploads_allow(&[0], 1, 1, i64::MAX / 2),
            Err(1),
            "past due: S3 is late, ask again soon"
        );
    }

    #[test]
    fn counts_sort_before_every_file_id() {
        for counter in [
            Counter::credentials_issued(1),
            Counter::objects_of_credential("0123456789ab", 1),
        ] {
            assert!(counter.name() < "0", "{}", counter.name());
        }
    }
}
