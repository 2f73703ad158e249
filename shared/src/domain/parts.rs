//! Multipart uploads: how a file is cut into parts, S3's bounds on them, the whole file's
//! CRC64NVME, and the check of `POST /uploads/multipart`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::upload::{
    ByteSize, ContentType, Filename, MIB, Transfer, UploadError, UploadRequest, UploadRules,
};

/// S3's bounds on a multipart part (the last part may be smaller), and on their number.
pub const MIN_PART_BYTES: u64 = 5 * MIB;
pub const MAX_PART_BYTES: u64 = 5 * 1024 * MIB;
pub const MAX_PARTS: u64 = 10_000;

/// A full-object CRC64NVME, base64 of its 8 bytes, as S3's `x-amz-checksum-crc64nvme`
/// carries it: what S3 checks a completed multipart upload against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crc64Checksum(String);

impl Crc64Checksum {
    pub fn parse(text: &str) -> Result<Self, UploadError> {
        match STANDARD.decode(text) {
            Ok(bytes) if bytes.len() == 8 && STANDARD.encode(&bytes) == text => {
                Ok(Self(text.to_owned()))
            }
            _ => Err(UploadError::Crc64(
                "crc64nvme must be the base64 of an 8-byte CRC64NVME (12 characters)".into(),
            )),
        }
    }

    pub fn from_value(crc: u64) -> Self {
        Self(STANDARD.encode(crc.to_be_bytes()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a multipart upload is cut: `part_count` parts of `part_size` bytes, the last one
/// holding what is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartPlan {
    pub part_size: u64,
    pub part_count: u32,
}

impl PartPlan {
    /// Plan `size` bytes in parts of `proposed` bytes (the client's choice, checked), or
    /// of the smallest whole number of MiB, at least 5 MiB, that needs at most 10,000 parts.
    pub fn new(size: ByteSize, proposed: Option<u64>) -> Result<Self, UploadError> {
        let size = size.get();
        let fewest = size.div_ceil(MAX_PARTS);
        let part_size = match proposed {
            Some(part) if (MIN_PART_BYTES..=MAX_PART_BYTES).contains(&part) && part >= fewest => {
                part
            }
            Some(part) => {
                return Err(UploadError::PartSize(format!(
                    "part_size {part} is not allowed: parts are {MIN_PART_BYTES} to {MAX_PART_BYTES} bytes, and {size} bytes in at most {MAX_PARTS} parts need at least {} bytes each",
                    fewest.max(MIN_PART_BYTES)
                )));
            }
            None => fewest.div_ceil(MIB).max(5) * MIB,
        };
        let part_count = u32::try_from(size.div_ceil(part_size).max(1))
            .map_err(|_| UploadError::PartSize("too many parts".into()))?;
        Ok(Self {
            part_size,
            part_count,
        })
    }

    /// The plan of an upload already made with parts of `part_size`.
    pub fn of(size: ByteSize, part_size: u64) -> Self {
        let part_size = part_size.max(1);
        Self {
            part_size,
            part_count: u32::try_from(size.get().div_ceil(part_size).max(1)).unwrap_or(u32::MAX),
        }
    }

    /// The part numbers of the page starting at `from`, at most `per_page` of them; `None`
    /// when `from` is not a part number.
    pub fn page(&self, from: u32, per_page: u32) -> Option<std::ops::RangeInclusive<u32>> {
        (1..=self.part_count).contains(&from).then(|| {
            from..=from
                .saturating_add(per_page.max(1) - 1)
                .min(self.part_count)
        })
    }

    /// The size of part `number` (1-based) of an object of `size` bytes.
    pub fn part_len(&self, number: u32, size: ByteSize) -> u64 {
        if number < self.part_count {
            self.part_size
        } else {
            size.get() - u64::from(self.part_count - 1) * self.part_size
        }
    }
}

/// A checked multipart request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartRequest {
    pub upload: UploadRequest,
    pub plan: PartPlan,
    pub crc64nvme: Option<Crc64Checksum>,
}

impl UploadRules {
    /// Check what a caller asks to upload in parts, field by field as sent, against these
    /// rules, and plan its parts.
    pub fn check_multipart(
        &self,
        filename: &str,
        content_type: &str,
        size: u64,
        part_size: Option<u64>,
        crc64nvme: Option<&str>,
    ) -> Result<MultipartRequest, UploadError> {
        let filename = Filename::parse(filename)?;
        let content_type = ContentType::parse(content_type)?;
        let size = ByteSize::new(size);
        self.admit(&content_type, size, Transfer::Multipart)?;
        let plan = PartPlan::new(size, part_size)?;
        let crc64nvme = crc64nvme.map(Crc64Checksum::parse).transpose()?;
        Ok(MultipartRequest {
            upload: UploadRequest {
                filename,
                content_type,
                size,
                sha256: None,
            },
            plan,
            crc64nvme,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::upload::MAX_OBJECT_BYTES;

    #[test]
    fn parts_are_5_mib_to_5_gib_and_at_most_10000() {
        let plan = |size: u64, proposed| PartPlan::new(ByteSize::new(size), proposed);
        assert_eq!(
            plan(12 * MIB, None),
            Ok(PartPlan {
                part_size: 5 * MIB,
                part_count: 3
            })
        );
        let p = plan(12 * MIB, None).unwrap();
        assert_eq!(
            (1..=3)
                .map(|n| p.part_len(n, ByteSize::new(12 * MIB)))
                .collect::<Vec<_>>(),
            [5 * MIB, 5 * MIB, 2 * MIB]
        );
        assert_eq!(plan(1, None).unwrap().part_count, 1);
        // 5 TiB needs parts of at least 525 MiB (rounded up to whole MiB) to stay in 10,000.
        let huge = plan(MAX_OBJECT_BYTES, None).unwrap();
        assert!(u64::from(huge.part_count) <= MAX_PARTS);
        assert_eq!(huge.part_size % MIB, 0);
        assert_eq!(plan(12 * MIB, Some(6 * MIB)).unwrap().part_count, 2);
        for bad in [MIN_PART_BYTES - 1, MAX_PART_BYTES + 1] {
            assert!(matches!(
                plan(12 * MIB, Some(bad)),
                Err(UploadError::PartSize(_))
            ));
        }
        // A proposal that would need more than 10,000 parts.
        assert!(plan(MAX_OBJECT_BYTES, Some(MIN_PART_BYTES)).is_err());
        let p = PartPlan::of(ByteSize::new(250 * MIB), 5 * MIB);
        assert_eq!(p.part_count, 50);
        assert_eq!(p.page(1, 20), Some(1..=20));
        assert_eq!(p.page(41, 20), Some(41..=50));
        assert_eq!(p.page(0, 20), None);
        assert_eq!(p.page(51, 20), None);
    }

    #[test]
    fn crc64_checksums_are_8_bytes_of_base64() {
        let crc = Crc64Checksum::from_value(0x1234_5678_9abc_def0);
        assert_eq!(crc.as_str().len(), 12);
        assert_eq!(Crc64Checksum::parse(crc.as_str()), Ok(crc.clone()));
        assert!(Crc64Checksum::parse("AAAA").is_err());
        assert!(Crc64Checksum::parse(&STANDARD.encode([0u8; 32])).is_err());
    }
}
