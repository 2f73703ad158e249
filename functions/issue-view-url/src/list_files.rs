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
    let page = deps.records.list(owner, limit, before).await?;
    Ok(json_response(
        StatusCode::OK,
        &FileList {
            files: page.records.iter().map(FileView::from).collect(),
            next_cursor: page.next.map(cursor::encode),
        },
    ))
}
