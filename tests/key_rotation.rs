//! A signing-key rotation under traffic, as the runbook (docs/operations.md) does it, with no
//! refused request: a stream of viewers asks for view URLs and fetches them through the CDN
//! while the next key joins the key group and the view function's trusted keys (a deploy
//! filling the template's second slot), joins the secret (`private-uploads rotate-key add`),
//! becomes the active one (`activate`), and the old key leaves the secret and then the key
//! group (a deploy emptying the first slot) once every URL it signed has expired. The view
//! function re-reads the secret every second here (`SIGNING_KEY_REFRESH_SECONDS`), and signs
//! only with a key its `TRUSTED_KEY_*` name, as in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use integration_tests::png;
use integration_tests::running::Running;
use private_uploads::commands::rotate_key::{Step, apply};
use private_uploads::keys::{KeyKind, generate};
use private_uploads::local::stack::{KEY_PAIR_ID, SECRET};

const NEXT: &str = "KLOCALNEXTKEY02";
/// The lifetime of the URLs the viewers ask for: the longest URL lifetime in this run.
const URL_SECONDS: u64 = 2;

#[derive(Debug, Default)]
struct Traffic {
    /// (status, key pair id of the URL) for every view.
    views: Vec<(u16, String)>,
}

async fn secret(run: &Running) -> String {
    aws_sdk_secretsmanager::Client::new(&run.stack.backend.aws)
        .get_secret_value()
        .secret_id(SECRET)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap()
}

async fn put_secret(run: &Running, text: &str) {
    aws_sdk_secretsmanager::Client::new(&run.stack.backend.aws)
        .put_secret_value()
        .secret_id(SECRET)
        .secret_string(text)
        .send()
        .await
        .unwrap();
}

/// The `Expires=` of a canned-policy URL, epoch seconds.
fn expires_of(url: &str) -> i64 {
    url.split("Expires=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .and_then(|v| v.parse().ok())
        .expect("a canned URL")
}

fn key_pair_id_of(url: &str) -> String {
    url.split("Key-Pair-Id=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_rotation_under_traffic_refuses_no_viewer() {
    let run = Arc::new(Running::start_with(&[("SIGNING_KEY_REFRESH_SECONDS", "1")]).await);
    let file_id = run.upload("alice", "a.png", "image/png", &png(50, 1)).await;
    let next = generate(KeyKind::Ecdsa).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let next_file = dir.path().join("next.pem");
    std::fs::write(&next_file, &next.private_pem).unwrap();

    // Viewers, four at a time, for as long as the rotation takes. Three use their URL a
    // little later, as a page does; the fourth as late as it can, just before the URL
    // expires: a runbook that dropped the old key before the longest URL lifetime had passed
    // would fail it.
    let running = Arc::new(AtomicBool::new(true));
    let mut viewers = Vec::new();
    for viewer in 0..4 {
        let (run, running, file_id) = (run.clone(), running.clone(), file_id.clone());
        viewers.push(tokio::spawn(async move {
            let token = run.token("alice");
            let mut traffic = Traffic::default();
            while running.load(Ordering::SeqCst) {
                let (status, view) = run
                    .json(
                        "GET",
                        &format!("/files/{file_id}/url?expires_in={URL_SECONDS}"),
                        Some(&token),
                        None,
                    )
                    .await;
                assert_eq!(status, 200, "{view}");
                let url = view["url"].as_str().unwrap().to_owned();
                let wait = if viewer == 0 {
                    let expires_ms = expires_of(&url) * 1000;
                    let now_ms = chrono::Utc::now().timestamp_millis();
                    Duration::from_millis(u64::try_from(expires_ms - now_ms - 300).unwrap_or(0))
                } else {
                    Duration::from_millis(300)
                };
                tokio::time::sleep(wait).await;
                let (status, _) = run.cdn(&url).await;
                traffic.views.push((status, key_pair_id_of(&url)));
            }
            traffic
        }));
    }

    // 1. Deploy the next public key into the empty slot: the key group trusts both, and so
    //    does the view function (TRUSTED_KEY_2).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let old_public = run.stack.backend.cloudfront_key.public_pem.clone();
    run.stack
        .deploy_key_slots([
            Some((KEY_PAIR_ID, &old_public)),
            Some((NEXT, &next.public_pem)),
        ])
        .await
        .unwrap();
    // 2. Add it to the secret; the old key still signs.
    let added = apply(
        &secret(&run).await,
        &Step::Add {
            key_pair_id: NEXT,
            key_file: &next_file,
        },
    )
    .unwrap();
    put_secret(&run, &added).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // 3. Switch: every container signs with the next key from its next refresh (1 s here).
    put_secret(&run, &apply(&added, &Step::Activate(NEXT)).unwrap()).await;
    // 4. Wait for the refresh and the longest URL lifetime, then drop the old key: from the
    //    secret, then from the key group (a deploy with the first slot empty).
    tokio::time::sleep(Duration::from_secs(2 + URL_SECONDS + 1)).await;
    let current = secret(&run).await;
    put_secret(&run, &apply(&current, &Step::Remove(KEY_PAIR_ID)).unwrap()).await;
    run.stack
        .deploy_key_slots([None, Some((NEXT, &next.public_pem))])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.store(false, Ordering::SeqCst);

    let mut views = Vec::new();
    for viewer in viewers {
        views.extend(viewer.await.unwrap().views);
    }
    let refused: Vec<&(u16, String)> = views.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        refused.is_empty(),
        "refused: {refused:?} of {}",
        views.len()
    );
    let old = views.iter().filter(|(_, k)| k == KEY_PAIR_ID).count();
    let new = views.iter().filter(|(_, k)| k == NEXT).count();
    assert!(old > 0 && new > 0, "both keys signed: {old} old, {new} new");
    assert!(views.len() > 20, "a stream, not a trickle: {}", views.len());
    // Once the old key is gone from the key group, a URL it signs is refused: had a viewer
    // still held an unexpired old-key URL then, its fetch would have been refused above.
    let key = run.cloudfront_key();
    let stale = key
        .sign_canned_url(
            &format!("{}/users/alice/{file_id}", run.stack.cdn_url),
            chrono::Utc::now().timestamp() + 60,
            shared::cloudfront::HashAlgorithm::Sha256,
        )
        .unwrap();
    assert_eq!(run.cdn(&stale).await.0, 403);
    match Arc::try_unwrap(run) {
        Ok(run) => run.stop().await,
        Err(_) => panic!("a viewer still holds the stack"),
    }
}

/// Runbook step 4 done too early, or a key put under the wrong id: the view function refuses
/// to sign with a key the key group does not trust (503 `signing_unavailable`), and signs
/// again once a deploy makes the key group trust it.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_the_key_group_does_not_trust_is_never_used_to_sign() {
    let run = Running::start_with(&[("SIGNING_KEY_REFRESH_SECONDS", "1")]).await;
    let file_id = run.upload("alice", "a.png", "image/png", &png(50, 1)).await;
    let token = run.token("alice");
    let path = format!("/files/{file_id}/url");
    assert_eq!(run.json("GET", &path, Some(&token), None).await.0, 200);

    let next = generate(KeyKind::Rsa).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let next_file = dir.path().join("next.pem");
    std::fs::write(&next_file, &next.private_pem).unwrap();
    let added = apply(
        &secret(&run).await,
        &Step::Add {
            key_pair_id: NEXT,
            key_file: &next_file,
        },
    )
    .unwrap();
    put_secret(&run, &apply(&added, &Step::Activate(NEXT)).unwrap()).await;
    // A fresh container (a deploy that changes nothing of the key slots) has no earlier key
    // to keep: it must refuse.
    let old_public = run.stack.backend.cloudfront_key.public_pem.clone();
    run.stack
        .deploy_key_slots([Some((KEY_PAIR_ID, &old_public)), None])
        .await
        .unwrap();
    let (status, body) = run.json("GET", &path, Some(&token), None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "signing_unavailable", "{body}");

    // Once the next key is in the key group (and so in TRUSTED_KEY_2), it signs, and the CDN
    // serves what it signed.
    run.stack
        .deploy_key_slots([
            Some((KEY_PAIR_ID, &old_public)),
            Some((NEXT, &next.public_pem)),
        ])
        .await
        .unwrap();
    let (status, body) = run.json("GET", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    assert_eq!(key_pair_id_of(url), NEXT);
    assert_eq!(run.cdn(url).await.0, 200);
    run.stop().await;
}
