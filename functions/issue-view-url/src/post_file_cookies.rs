//! `POST /files/cookies` (`PostFileCookies` in `template.yaml`): CloudFront signed cookies
//! that open every file under the caller's prefix on the CDN, for a gallery of thumbnails
//! loaded by `<img src>` alone. A custom policy whose resource is
//! `https://<cdn>/users/<owner>/*`, valid for `ViewUrlMaxSeconds`; the cookies are scoped to
//! that path, `Secure`, `HttpOnly`, `SameSite=Strict`, and carry no `Domain`: they belong to
//! the host that set them alone. The page asks for them through the CDN's own host (the
//! distribution forwards `/files/cookies` to the API, uncached), so they go to the CDN and to
//! no sibling host (docs/operations.md, "Gallery cookies").

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use shared::cloudfront::Policy;
use shared::domain::ids::OwnerId;
use shared::domain::time::whole_seconds;
use shared::http::{ApiError, CookieScope, cookies_response, set_cookie};

use crate::Deps;

#[tracing::instrument(skip_all, fields(owner = %owner))]
pub async fn handle(deps: &Deps, owner: &OwnerId) -> Result<Response<Body>, ApiError> {
    let lifetime = deps.config.max_view_seconds;
    let expires =
        whole_seconds(Utc::now()).timestamp() + i64::try_from(lifetime).unwrap_or(i64::MAX / 2);
    let prefix = owner.prefix();
    let policy = Policy {
        resource: format!("{}/{prefix}*", deps.config.cdn_base.as_str()),
        expires,
        not_before: None,
        source_ip: None,
    };
    let key = deps.keys.key().await?;
    let cookies = key
        .sign_cookies(&policy, false, deps.keys.hash())
        .map_err(|_| ApiError::internal("the signing key failed to sign"))?;
    let path = format!("/{prefix}");
    let scope = CookieScope {
        path: &path,
        max_age: lifetime,
    };
    let headers: Vec<String> = cookies
        .0
        .iter()
        .map(|(name, value)| set_cookie(name, value, &scope))
        .collect();
    tracing::info!(expires, "gallery cookies issued");
    Ok(cookies_response(StatusCode::NO_CONTENT, &headers))
}
