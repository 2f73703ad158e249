//! `GET /files?limit=&cursor=` (`ListFiles` in `template.yaml`): the caller's files, newest
//! first, one page at a time.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;
use shared::domain::ids::OwnerId;
use shared::http::{ApiError, ErrorCode, FileView, cursor, json_response};

use crate::Deps;

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;

#[derive(Serialize)]
struct FileList {
    files: Vec<FileView>,
    next_cursor: Option<String>,
}

/// Store pages read at most for one answer.
const MAX_READS: usize = 4;

#[tracing::instrument(skip_all, fields(owner = %owner))]
pub async fn handle(
    deps: &Deps,
    owner: &OwnerId,
    limit: Option<String>,
    cursor_text: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let limit = match limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidLimit,
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let before = match cursor_text.as_deref() {
        None | Some("") => None,
        Some(text) => Some(cursor::decode(text).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidCursor,
                "cursor is not one this API returned",
            )
        })?),
    };
    let mut page = deps.records.list(owner, limit, before).await?;
    // Tombstones (deleted files, cancelled uploads) count towards a store page but are not
    // shown: read on (a few pages at most) rather than answer a short or empty page.
    for _ in 1..MAX_READS {
        let shown = u32::try_from(page.records.len()).unwrap_or(limit);
        let Some(next) = page.next.filter(|_| shown < limit) else {
            break;
        };
        let more = deps.records.list(owner, limit - shown, Some(next)).await?;
        page.records.extend(more.records);
        page.next = more.next;
    }
    Ok(json_response(
        StatusCode::OK,
        &FileList {
            files: page.records.iter().map(FileView::from).collect(),
            next_cursor: page.next.map(cursor::encode),
        },
    ))
}
