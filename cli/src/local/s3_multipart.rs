//! Multipart uploads in the local S3, as S3 does them where s3s-fs does not: ListParts with
//! each part's ETag and size (so a client can resume), part checksums verified on
//! UploadPart, a completion checked in full (part order, ETags, sizes, the full-object
//! CRC64NVME) before anything is assembled, so that a refused completion leaves the upload
//! as it was, and an upload reachable with any credentials allowed to it (s3s-fs binds it to
//! the access key that created it).
//!
//! The state lives in memory: the local S3's files are cleared at every start anyway.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use s3s::crypto::{Checksum as _, Crc64Nvme, Md5};
use s3s::dto::{
    ChecksumAlgorithm, ChecksumType, CompletedPart, ETag, ListPartsOutput, Part, Timestamp,
};
use s3s::{S3Error, S3Result, s3_error};

/// S3's smallest part, but for the last.
const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct PartInfo {
    /// Hex MD5 of the part, unquoted.
    pub etag: String,
    pub size: u64,
    pub modified: std::time::SystemTime,
    /// Base64 CRC64NVME, when the upload checks one.
    pub crc64nvme: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Upload {
    pub bucket: String,
    /// The key as s3s-fs stores it (escaped).
    pub fs_key: String,
    pub full_object_crc64: bool,
    /// Created in an archive storage class (GLACIER, DEEP_ARCHIVE): unreadable once complete.
    pub archived: Option<s3s::dto::StorageClass>,
    pub parts: BTreeMap<i32, PartInfo>,
    /// When it was created (`ListMultipartUploads` answers it; a lifecycle rule ages it).
    pub initiated: std::time::SystemTime,
}

/// What a completion assembles, once checked.
pub struct Plan {
    /// The listed parts' files, in order.
    pub files: Vec<PathBuf>,
    /// The combined CRC64NVME, for an upload that checks one.
    pub crc64nvme: Option<String>,
    /// `hex(md5(part md5s))-N`, S3's ETag of a multipart object.
    pub etag: String,
}

#[derive(Default)]
pub struct Uploads(Mutex<HashMap<String, Upload>>);

impl Uploads {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Upload>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn start(&self, upload_id: &str, upload: Upload) {
        self.lock().insert(upload_id.to_owned(), upload);
    }

    pub fn get(&self, upload_id: &str) -> S3Result<Upload> {
        self.lock()
            .get(upload_id)
            .cloned()
            .ok_or_else(no_such_upload)
    }

    pub fn record_part(&self, upload_id: &str, number: i32, part: PartInfo) {
        if let Some(upload) = self.lock().get_mut(upload_id) {
            upload.parts.insert(number, part);
        }
    }

    pub fn finish(&self, upload_id: &str) {
        self.lock().remove(upload_id);
    }

    /// The unfinished uploads of `bucket`, as `(fs_key, upload_id, initiated)`.
    pub fn list(&self, bucket: &str) -> Vec<(String, String, std::time::SystemTime)> {
        self.lock()
            .iter()
            .filter(|(_, u)| u.bucket == bucket)
            .map(|(id, u)| (u.fs_key.clone(), id.clone(), u.initiated))
            .collect()
    }
}

pub fn no_such_upload() -> S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

/// Where s3s-fs keeps part `number` of `upload_id`.
pub fn part_path(root: &Path, upload_id: &str, number: i32) -> PathBuf {
    root.join(format!(".upload_id-{upload_id}.part-{number}"))
}

/// What a part's bytes are: its ETag, and the checksums the request or the upload asks for
/// (verified against the request's own `x-amz-checksum-*` values).
pub fn check_part(
    bytes: &[u8],
    upload: &Upload,
    declared_crc64nvme: Option<&str>,
    declared_sha256: Option<&str>,
) -> S3Result<PartInfo> {
    let etag = hex(Md5::checksum(bytes).as_ref());
    let crc64nvme = (upload.full_object_crc64 || declared_crc64nvme.is_some())
        .then(|| STANDARD.encode(Crc64Nvme::checksum(bytes)));
    if let Some(declared) = declared_crc64nvme
        && crc64nvme.as_deref() != Some(declared)
    {
        return Err(s3_error!(
            BadDigest,
            "The CRC64NVME you specified did not match the calculated checksum."
        ));
    }
    if let Some(declared) = declared_sha256 {
        let actual = STANDARD.encode(s3s::crypto::Sha256::checksum(bytes));
        if actual != declared {
            return Err(s3_error!(
                BadDigest,
                "The SHA256 you specified did not match the calculated checksum."
            ));
        }
    }
    Ok(PartInfo {
        etag,
        size: bytes.len() as u64,
        modified: std::time::SystemTime::now(),
        crc64nvme,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A listed part against the part held: its CRC64NVME when listed, and its size unless it
/// is the last.
fn check_listed_part(listed: &CompletedPart, held: &PartInfo, last: bool) -> S3Result<()> {
    if let Some(crc) = &listed.checksum_crc64nvme
        && held.crc64nvme.as_deref() != Some(crc.as_str())
    {
        return Err(s3_error!(
            InvalidPart,
            "the part's CRC64NVME does not match the one it was uploaded with"
        ));
    }
    if !last && held.size < MIN_PART_BYTES {
        return Err(s3_error!(
            EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed object size."
        ));
    }
    Ok(())
}

/// The whole object's CRC64NVME, from its parts' files in order.
fn whole_crc64nvme(files: &[PathBuf]) -> S3Result<String> {
    let mut crc = Crc64Nvme::new();
    for file in files {
        let bytes =
            std::fs::read(file).map_err(|e| s3_error!(InternalError, "cannot read a part: {e}"))?;
        crc.update(&bytes);
    }
    Ok(STANDARD.encode(crc.finalize()))
}

/// Check a completion as S3 does, before anything is touched.
pub fn plan_completion(
    root: &Path,
    upload_id: &str,
    upload: &Upload,
    listed: &[CompletedPart],
    declared_crc64nvme: Option<&str>,
    declared_type: Option<&ChecksumType>,
) -> S3Result<Plan> {
    if listed.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "You must specify at least one part."
        ));
    }
    let numbers: Vec<i32> = listed.iter().map(|p| p.part_number.unwrap_or(0)).collect();
    if numbers.windows(2).any(|w| w[0] >= w[1]) {
        return Err(s3_error!(
            InvalidPartOrder,
            "The list of parts was not in ascending order."
        ));
    }
    let mut md5s = Vec::new();
    let mut files = Vec::new();
    for (i, listed_part) in listed.iter().enumerate() {
        let number = numbers[i];
        let held = upload.parts.get(&number);
        let etag_matches = |held: &PartInfo| {
            listed_part
                .e_tag
                .as_ref()
                .is_some_and(|e| e.value().trim_matches('"') == held.etag)
        };
        let Some(held) = held.filter(|held| etag_matches(held)) else {
            return Err(s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."
            ));
        };
        check_listed_part(listed_part, held, i + 1 == listed.len())?;
        md5s.extend(
            (0..held.etag.len())
                .step_by(2)
                .filter_map(|at| u8::from_str_radix(&held.etag[at..at + 2], 16).ok()),
        );
        files.push(part_path(root, upload_id, number));
    }
    if let Some(kind) = declared_type
        && (kind.as_str() == ChecksumType::FULL_OBJECT) != upload.full_object_crc64
    {
        return Err(s3_error!(
            InvalidRequest,
            "The upload was not created with this checksum type."
        ));
    }
    let crc64nvme = if upload.full_object_crc64 || declared_crc64nvme.is_some() {
        Some(whole_crc64nvme(&files)?)
    } else {
        None
    };
    if let Some(declared) = declared_crc64nvme
        && crc64nvme.as_deref() != Some(declared)
    {
        return Err(s3_error!(
            BadDigest,
            "The CRC64NVME you specified did not match the calculated checksum of the object."
        ));
    }
    Ok(Plan {
        files,
        crc64nvme,
        etag: format!("{}-{}", hex(Md5::checksum(&md5s).as_ref()), listed.len()),
    })
}

/// ListParts, from the state: sorted, paged by `part_number_marker` and `max_parts`.
pub fn list_parts(
    upload: &Upload,
    key: &str,
    upload_id: &str,
    marker: Option<i32>,
    max_parts: Option<i32>,
) -> ListPartsOutput {
    let max = usize::try_from(max_parts.unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
    let after = marker.unwrap_or(0);
    let mut parts: Vec<(&i32, &PartInfo)> =
        upload.parts.iter().filter(|(n, _)| **n > after).collect();
    let truncated = parts.len() > max;
    parts.truncate(max);
    let next = parts.last().map(|(n, _)| **n);
    ListPartsOutput {
        bucket: Some(upload.bucket.clone()),
        key: Some(key.to_owned()),
        upload_id: Some(upload_id.to_owned()),
        part_number_marker: marker,
        next_part_number_marker: next,
        max_parts: i32::try_from(max).ok(),
        is_truncated: Some(truncated),
        checksum_algorithm: upload
            .full_object_crc64
            .then(|| ChecksumAlgorithm::from_static(ChecksumAlgorithm::CRC64NVME)),
        checksum_type: upload
            .full_object_crc64
            .then(|| ChecksumType::from_static(ChecksumType::FULL_OBJECT)),
        parts: Some(
            parts
                .into_iter()
                .map(|(number, part)| Part {
                    part_number: Some(*number),
                    e_tag: Some(ETag::Strong(part.etag.clone())),
                    size: i64::try_from(part.size).ok(),
                    last_modified: Some(Timestamp::from(part.modified)),
                    checksum_crc64nvme: part.crc64nvme.clone(),
                    ..Part::default()
                })
                .collect(),
        ),
        ..ListPartsOutput::default()
    }
}

/// Make the listed part files s3s-fs's `1..=n` (it insists on contiguous numbers) and drop
/// the parts the completion leaves out, as S3 discards them.
pub fn renumber(root: &Path, upload_id: &str, upload: &Upload, plan: &Plan) -> S3Result<()> {
    let io = |e: std::io::Error| s3_error!(InternalError, "cannot arrange the parts: {e}");
    let staged: Vec<PathBuf> = plan
        .files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let staged = root.join(format!(".upload_id-{upload_id}.staged-{}", i + 1));
            std::fs::rename(file, &staged).map(|()| staged)
        })
        .collect::<Result<_, _>>()
        .map_err(io)?;
    for number in upload.parts.keys() {
        let left = part_path(root, upload_id, *number);
        if left.exists() {
            std::fs::remove_file(left).map_err(io)?;
        }
    }
    for (i, staged) in staged.iter().enumerate() {
        let number = i32::try_from(i + 1).unwrap_or(i32::MAX);
        std::fs::rename(staged, part_path(root, upload_id, number)).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(full_object_crc64: bool) -> Upload {
        Upload {
            bucket: "b".into(),
            fs_key: "users/alice/x".into(),
            full_object_crc64,
            archived: None,
            parts: BTreeMap::new(),
            initiated: std::time::SystemTime::now(),
        }
    }

    /// Store `parts` as s3s-fs would, and record them.
    fn uploaded(root: &Path, id: &str, full_object_crc64: bool, parts: &[&[u8]]) -> Upload {
        let mut upload = upload(full_object_crc64);
        for (i, bytes) in parts.iter().enumerate() {
            let number = i32::try_from(i + 1).unwrap();
            std::fs::write(part_path(root, id, number), bytes).unwrap();
            let part = check_part(bytes, &upload, None, None).unwrap();
            upload.parts.insert(number, part);
        }
        upload
    }

    fn listed(upload: &Upload, numbers: &[i32]) -> Vec<CompletedPart> {
        numbers
            .iter()
            .map(|n| CompletedPart {
                part_number: Some(*n),
                e_tag: Some(ETag::Strong(upload.parts[n].etag.clone())),
                ..Default::default()
            })
            .collect()
    }

    fn code(err: S3Error) -> String {
        err.code().as_str().to_owned()
    }

    #[test]
    fn parts_are_checked_against_their_declared_checksums() {
        let plain = upload(false);
        let part = check_part(b"abc", &plain, None, None).unwrap();
        assert_eq!(part.etag, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!((part.size, part.crc64nvme), (3, None));
        let crc = STANDARD.encode(Crc64Nvme::checksum(b"abc"));
        let with = check_part(b"abc", &plain, Some(&crc), None).unwrap();
        assert_eq!(with.crc64nvme, Some(crc.clone()));
        assert_eq!(
            code(check_part(b"abd", &plain, Some(&crc), None).unwrap_err()),
            "BadDigest"
        );
        let sha = STANDARD.encode(s3s::crypto::Sha256::checksum(b"abc"));
        assert!(check_part(b"abc", &plain, None, Some(&sha)).is_ok());
        assert_eq!(
            code(check_part(b"abd", &plain, None, Some(&sha)).unwrap_err()),
            "BadDigest"
        );
        // An upload created with a full-object CRC64NVME keeps each part's.
        assert!(
            check_part(b"abc", &upload(true), None, None)
                .unwrap()
                .crc64nvme
                .is_some()
        );
    }

    #[test]
    fn completions_are_checked_as_s3_checks_them() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; MIN_PART_BYTES as usize];
        let up = uploaded(dir.path(), "u", true, &[&big, b"tail", &big]);
        let plan = |numbers: &[i32], crc: Option<&str>| {
            plan_completion(dir.path(), "u", &up, &listed(&up, numbers), crc, None)
        };
        assert_eq!(code(plan(&[], None).err().unwrap()), "MalformedXML");
        assert_eq!(code(plan(&[2, 1], None).err().unwrap()), "InvalidPartOrder");
        assert_eq!(
            code(plan(&[1, 2, 3], None).err().unwrap()),
            "EntityTooSmall"
        );
        let mut wrong = listed(&up, &[1]);
        wrong[0].e_tag = Some(ETag::Strong("0".repeat(32)));
        assert_eq!(
            code(
                plan_completion(dir.path(), "u", &up, &wrong, None, None)
                    .err()
                    .unwrap()
            ),
            "InvalidPart"
        );
        let mut missing = listed(&up, &[1]);
        missing[0].part_number = Some(4);
        assert_eq!(
            code(
                plan_completion(dir.path(), "u", &up, &missing, None, None)
                    .err()
                    .unwrap()
            ),
            "InvalidPart"
        );
        // Parts 1 and 2 (the small one last): the object's CRC64NVME and S3's ETag.
        let whole = [&big[..], b"tail"].concat();
        let crc = STANDARD.encode(Crc64Nvme::checksum(&whole));
        assert_eq!(
            code(
                plan(&[1, 2], Some(&STANDARD.encode([0u8; 8])))
                    .err()
                    .unwrap()
            ),
            "BadDigest"
        );
        let done = plan(&[1, 2], Some(&crc)).unwrap();
        assert_eq!(done.crc64nvme, Some(crc));
        assert_eq!(done.files.len(), 2);
        let md5s = [
            Md5::checksum(&big).as_ref().to_vec(),
            Md5::checksum(b"tail").as_ref().to_vec(),
        ]
        .concat();
        assert_eq!(
            done.etag,
            format!("{}-2", hex(Md5::checksum(&md5s).as_ref()))
        );
    }

    #[test]
    fn list_parts_pages_with_each_parts_etag() {
        let dir = tempfile::tempdir().unwrap();
        let up = uploaded(dir.path(), "u", false, &[b"a", b"b", b"c"]);
        let first = list_parts(&up, "k", "u", None, Some(2));
        let parts = first.parts.unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(first.is_truncated, Some(true));
        assert_eq!(first.next_part_number_marker, Some(2));
        assert_eq!(
            parts[0].e_tag.as_ref().map(|e| e.value().to_owned()),
            Some("0cc175b9c0f1b6a831c399e269772661".to_owned())
        );
        let rest = list_parts(&up, "k", "u", Some(2), Some(2));
        assert_eq!(rest.is_truncated, Some(false));
        assert_eq!(rest.parts.unwrap()[0].part_number, Some(3));
    }
}
