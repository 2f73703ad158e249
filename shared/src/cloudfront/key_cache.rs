//! The CloudFront signing key, fetched from its secret once per container, parsed once,
//! and refreshed on a timer so that a rotation needs no redeploy.
//!
//! The refresh is lazy: the first request after `refresh_after` re-reads the secret while
//! the others keep signing with the key they have. If the secret cannot be read or parsed,
//! the last good key stays in use (a rotation has a grace period in the key group); with no
//! good key at all, callers get [`KeyUnavailable`] and the API answers 503.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use super::signing_key::{HashAlgorithm, SigningKey};
use super::trust::TrustedKeys;
use crate::metrics;
use crate::ports::secrets::SecretSource;

/// One key of the secret: `{"key_pair_id": "K…", "private_key_pem": "-----BEGIN …"}`.
#[derive(Deserialize)]
struct KeyEntry {
    key_pair_id: String,
    private_key_pem: String,
}

impl Drop for KeyEntry {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.private_key_pem);
    }
}

/// The secret's parsed JSON, its strings wiped when dropped.
struct Wiped(serde_json::Value);

impl Drop for Wiped {
    fn drop(&mut self) {
        fn wipe(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::String(s) => zeroize::Zeroize::zeroize(s),
                serde_json::Value::Array(items) => items.iter_mut().for_each(wipe),
                serde_json::Value::Object(map) => map.values_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}

/// The secret's JSON, in either form: one key (`{"key_pair_id", "private_key_pem"}`), or
/// several during a rotation (`{"active": "K…", "keys": [{"key_pair_id",
/// "private_key_pem"}, …]}`), of which the function signs with `active`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySet {
    active: String,
    keys: Vec<KeyEntry>,
}

/// A key pair id from the secret, as it may appear in an error or a log line: itself when it
/// looks like one (ASCII letters and digits), else only its length and a hash prefix. A
/// secret whose fields were swapped would otherwise print its private key.
fn shown_id(id: &str) -> String {
    let plausible =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if plausible {
        id.to_owned()
    } else {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(id.as_bytes());
        let prefix: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "(not a key pair id: {} characters, SHA-256 {prefix}…)",
            id.chars().count()
        )
    }
}

fn json_error(what: &str, e: &serde_json::Error) -> String {
    format!(
        "the secret is not {what} ({:?} at line {} column {})",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// Parse the secret string into the key to sign with (every key it holds must parse, so a
/// broken one is noticed before it becomes active). Error messages never quote the secret.
/// Our copies of the key material (the JSON's strings, the PEM, the DER) are wiped when
/// parsing ends; serde_json's own scratch buffer and the SDK's response buffer are not ours
/// to wipe.
pub fn parse_secret(text: &str) -> Result<SigningKey, String> {
    let value = Wiped(serde_json::from_str(text).map_err(|e| json_error("JSON", &e))?);
    let value = &value.0;
    if value.get("keys").is_none() {
        let single = KeyEntry::deserialize(value).map_err(|e| {
            json_error(
                "JSON with string fields key_pair_id and private_key_pem",
                &e,
            )
        })?;
        return SigningKey::from_pem(single.key_pair_id.trim(), &single.private_key_pem)
            .map_err(|e| format!("the secret's key is unusable: {e}"));
    }
    let set = KeySet::deserialize(value).map_err(|e| {
        json_error(
            "{\"active\": \"K…\", \"keys\": [{\"key_pair_id\", \"private_key_pem\"}, …]}",
            &e,
        )
    })?;
    let active = set.active.trim();
    let mut chosen = None;
    let mut seen = std::collections::BTreeSet::new();
    for entry in &set.keys {
        let id = entry.key_pair_id.trim();
        if !seen.insert(id) {
            return Err(format!("the secret lists key {} twice", shown_id(id)));
        }
        let key = SigningKey::from_pem(id, &entry.private_key_pem)
            .map_err(|e| format!("the secret's key {} is unusable: {e}", shown_id(id)))?;
        if id == active {
            chosen = Some(key);
        }
    }
    chosen.ok_or_else(|| {
        format!(
            "the secret's active key {} is not among its keys",
            shown_id(active)
        )
    })
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("signing key unavailable: {reason}")]
pub struct KeyUnavailable {
    pub reason: String,
    /// Seconds until the next attempt to load it.
    pub retry_after: u64,
}

struct State {
    key: Option<Arc<SigningKey>>,
    loaded_at: Option<Instant>,
    last_failure: Option<(Instant, String)>,
}

pub struct KeyCache {
    source: Arc<dyn SecretSource>,
    hash: HashAlgorithm,
    trusted: TrustedKeys,
    refresh_after: Duration,
    retry_after_failure: Duration,
    state: RwLock<State>,
    loading: Mutex<()>,
}

impl KeyCache {
    /// A cache that signs only with a key the key group trusts under its id (see
    /// [`TrustedKeys`]): any other fails the load, as an unparsable secret does.
    pub fn new(
        source: Arc<dyn SecretSource>,
        hash: HashAlgorithm,
        trusted: TrustedKeys,
        refresh_after: Duration,
    ) -> Self {
        Self {
            source,
            hash,
            trusted,
            refresh_after,
            retry_after_failure: Duration::from_secs(5),
            state: RwLock::new(State {
                key: None,
                loaded_at: None,
                last_failure: None,
            }),
            loading: Mutex::new(()),
        }
    }

    /// How long to wait after a failed load before trying again.
    pub fn with_retry_after_failure(mut self, wait: Duration) -> Self {
        self.retry_after_failure = wait;
        self
    }

    pub fn hash(&self) -> HashAlgorithm {
        self.hash
    }

    /// The current key, loading or refreshing it when due.
    pub async fn key(&self) -> Result<Arc<SigningKey>, KeyUnavailable> {
        {
            let state = self.state.read().await;
            if let (Some(key), Some(at)) = (&state.key, state.loaded_at)
                && at.elapsed() < self.refresh_after
            {
                return Ok(key.clone());
            }
        }
        self.load().await
    }

    async fn load(&self) -> Result<Arc<SigningKey>, KeyUnavailable> {
        // One loader at a time; others use the stale key if there is one, or wait.
        let _guard = match self.loading.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                if let Some(key) = self.state.read().await.key.clone() {
                    return Ok(key);
                }
                self.loading.lock().await
            }
        };
        {
            let state = self.state.read().await;
            if let (Some(key), Some(at)) = (&state.key, state.loaded_at)
                && at.elapsed() < self.refresh_after
            {
                return Ok(key.clone());
            }
            if let Some((at, reason)) = &state.last_failure
                && at.elapsed() < self.retry_after_failure
            {
                return match &state.key {
                    Some(key) => Ok(key.clone()),
                    None => Err(KeyUnavailable {
                        reason: reason.clone(),
                        // Rounded up: a client that waits this long finds the next
                        // load allowed (rounding down sent it back a second too early).
                        retry_after: ceil_seconds(
                            self.retry_after_failure.saturating_sub(at.elapsed()),
                        )
                        .max(1),
                    }),
                };
            }
        }
        let loaded = self.fetch_and_check().await;
        let mut state = self.state.write().await;
        // How old the key in use is once this load is done: 0 for a new one; none without.
        let age = match (&loaded, state.loaded_at) {
            (Ok(_), _) => Some(0.0),
            (Err(_), Some(at)) => Some(at.elapsed().as_secs_f64()),
            (Err(_), None) => None,
        };
        if let Some(age) = age {
            metrics::emit("SigningKeyAge", metrics::Unit::Seconds, age, &[]);
        }
        if loaded.is_err() {
            metrics::count("SigningKeyRefreshFailures", &[]);
        }
        match loaded {
            Ok(key) => {
                tracing::info!(
                    key_pair_id = key.key_pair_id(),
                    kind = key.kind(),
                    "signing key loaded"
                );
                let key = Arc::new(key);
                state.key = Some(key.clone());
                state.loaded_at = Some(Instant::now());
                state.last_failure = None;
                Ok(key)
            }
            Err(reason) => {
                state.last_failure = Some((Instant::now(), reason.clone()));
                match &state.key {
                    Some(key) => {
                        tracing::warn!(%reason, "signing key refresh failed; keeping the previous key");
                        Ok(key.clone())
                    }
                    None => {
                        tracing::error!(%reason, "signing key unavailable");
                        Err(KeyUnavailable {
                            reason,
                            retry_after: ceil_seconds(self.retry_after_failure).max(1),
                        })
                    }
                }
            }
        }
    }

    /// Read the secret, parse it, hold it to the trusted keys, and sign once with it.
    async fn fetch_and_check(&self) -> Result<SigningKey, String> {
        let text = self.source.fetch().await.map_err(|err| err.to_string())?;
        let hash = self.hash;
        let trusted = self.trusted.clone();
        let text = zeroize::Zeroizing::new(text);
        tokio::task::spawn_blocking(move || {
            let key = parse_secret(&text)?;
            trusted
                .check(&key)
                .map_err(|why| format!("refusing to sign: {why}"))?;
            // The first signature seeds aws-lc's random generator (and proves the key
            // signs): pay that here, at load, not on a viewer's request.
            key.sign(b"warm-up", hash)
                .map_err(|_| "the key cannot sign".to_owned())?;
            Ok::<_, String>(key)
        })
        .await
        .unwrap_or_else(|e| Err(format!("key parsing task failed: {e}")))
    }
}

/// Whole seconds, rounded up (for `Retry-After`).
fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {

    #[test]
    fn retry_after_is_rounded_up_so_waiting_it_is_enough() {
        assert_eq!(ceil_seconds(Duration::from_millis(4_300)), 5);
        assert_eq!(ceil_seconds(Duration::from_secs(5)), 5);
        assert_eq!(ceil_seconds(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_seconds(Duration::ZERO), 0);
    }

    use super::*;
    use std::sync::Mutex as StdMutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::cloudfront::test_keys::{EC_PKCS8 as EC, EC_PUBLIC, RSA_PKCS1 as RSA, RSA_PUBLIC};
    use crate::ports::StoreError;
    use async_trait::async_trait;

    fn secret(id: &str, pem: &str) -> String {
        serde_json::json!({"key_pair_id": id, "private_key_pem": pem}).to_string()
    }

    /// A source whose answer the test changes, counting fetches.
    struct Scripted {
        answer: StdMutex<Result<String, StoreError>>,
        fetches: AtomicUsize,
    }

    #[async_trait]
    impl SecretSource for Scripted {
        async fn fetch(&self) -> Result<String, StoreError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            self.answer.lock().unwrap().clone()
        }
    }

    /// The key group of these tests: K1 and K3 (the RSA key), K2 (the EC key).
    fn trusting() -> TrustedKeys {
        TrustedKeys::parse([
            format!("K1 {RSA_PUBLIC}").as_str(),
            format!("K2 {EC_PUBLIC}").as_str(),
            format!("K3 {RSA_PUBLIC}").as_str(),
        ])
        .unwrap()
    }

    fn scripted(answer: Result<String, StoreError>) -> Arc<Scripted> {
        Arc::new(Scripted {
            answer: StdMutex::new(answer),
            fetches: AtomicUsize::new(0),
        })
    }

    #[test]
    fn secrets_parse_and_errors_never_quote_the_key() {
        assert_eq!(
            parse_secret(&secret("K1", RSA)).unwrap().key_pair_id(),
            "K1"
        );
        assert_eq!(
            parse_secret(&secret("K2", EC)).unwrap().kind(),
            "ecdsa-p256"
        );
        let broken = secret("K1", &RSA.replace("MII", "XXX"));
        let message = parse_secret(&broken).unwrap_err();
        assert!(!message.contains("XXX"), "{message}");
        let not_json = format!("key_pair_id=K1 {RSA}");
        let message = parse_secret(&not_json).unwrap_err();
        assert!(!message.contains("BEGIN"), "{message}");
        assert!(parse_secret(r#"{"key_pair_id":"K1"}"#).is_err());
    }

    #[test]
    fn a_secret_with_swapped_fields_never_prints_its_key() {
        let swapped = serde_json::json!({"key_pair_id": RSA, "private_key_pem": "K1"}).to_string();
        let set = serde_json::json!({"active": RSA, "keys": [
            {"key_pair_id": RSA, "private_key_pem": RSA},
        ]})
        .to_string();
        let wrong_active = serde_json::json!({"active": RSA, "keys": [
            {"key_pair_id": "K1", "private_key_pem": RSA},
        ]})
        .to_string();
        for secret in [swapped, set, wrong_active] {
            let err = parse_secret(&secret).unwrap_err();
            for line in RSA.lines().filter(|l| l.len() > 20) {
                assert!(!err.contains(line), "{err}");
            }
            assert!(!err.contains("BEGIN"), "{err}");
        }
        let err = parse_secret(
            &serde_json::json!({"active": RSA, "keys": [
                {"key_pair_id": "K1", "private_key_pem": RSA},
            ]})
            .to_string(),
        )
        .unwrap_err();
        assert!(err.contains("not a key pair id"), "{err}");
        assert_eq!(shown_id("K2JCJMDEHXQW5F"), "K2JCJMDEHXQW5F");
    }

    #[test]
    fn a_rotating_secret_signs_with_its_active_key_and_checks_them_all() {
        let both = |active: &str| {
            serde_json::json!({"active": active, "keys": [
                {"key_pair_id": "K1", "private_key_pem": RSA},
                {"key_pair_id": "K2", "private_key_pem": EC},
            ]})
            .to_string()
        };
        assert_eq!(parse_secret(&both("K1")).unwrap().key_pair_id(), "K1");
        assert_eq!(parse_secret(&both("K2")).unwrap().kind(), "ecdsa-p256");
        let err = parse_secret(&both("K3")).unwrap_err();
        assert_eq!(err, "the secret's active key K3 is not among its keys");
        let broken = serde_json::json!({"active": "K1", "keys": [
            {"key_pair_id": "K1", "private_key_pem": RSA},
            {"key_pair_id": "K2", "private_key_pem": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"},
        ]})
        .to_string();
        let err = parse_secret(&broken).unwrap_err();
        assert!(err.starts_with("the secret's key K2 is unusable"), "{err}");
        assert!(!err.contains("nope"));
        let twice = serde_json::json!({"active": "K1", "keys": [
            {"key_pair_id": "K1", "private_key_pem": RSA},
            {"key_pair_id": "K1", "private_key_pem": RSA},
        ]})
        .to_string();
        assert_eq!(
            parse_secret(&twice).unwrap_err(),
            "the secret lists key K1 twice"
        );
    }

    #[tokio::test]
    async fn loads_once_then_serves_from_cache() {
        let source = scripted(Ok(secret("K1", RSA)));
        let cache = KeyCache::new(
            source.clone(),
            HashAlgorithm::Sha256,
            trusting(),
            Duration::from_secs(300),
        );
        for _ in 0..5 {
            assert_eq!(cache.key().await.unwrap().key_pair_id(), "K1");
        }
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn rotation_is_picked_up_after_the_refresh_interval() {
        let source = scripted(Ok(secret("K1", RSA)));
        let cache = KeyCache::new(
            source.clone(),
            HashAlgorithm::Sha256,
            trusting(),
            Duration::from_millis(50),
        );
        assert_eq!(cache.key().await.unwrap().key_pair_id(), "K1");
        *source.answer.lock().unwrap() = Ok(secret("K2", EC));
        assert_eq!(cache.key().await.unwrap().key_pair_id(), "K1");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cache.key().await.unwrap().key_pair_id(), "K2");
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_last_good_key() {
        let source = scripted(Ok(secret("K1", RSA)));
        let cache = KeyCache::new(
            source.clone(),
            HashAlgorithm::Sha1,
            trusting(),
            Duration::from_millis(10),
        );
        cache.key().await.unwrap();
        *source.answer.lock().unwrap() = Err(StoreError::Failed("AccessDenied".into()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(cache.key().await.unwrap().key_pair_id(), "K1");
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            2,
            "the refresh was tried, failed, and the old key kept"
        );
    }

    #[tokio::test]
    async fn no_key_at_all_is_unavailable_and_retried_later() {
        let source = scripted(Ok("{not json".into()));
        let cache = KeyCache::new(
            source.clone(),
            HashAlgorithm::Sha256,
            trusting(),
            Duration::from_secs(300),
        )
        .with_retry_after_failure(Duration::from_millis(50));
        let err = cache.key().await.unwrap_err();
        assert!(err.reason.contains("not JSON"), "{}", err.reason);
        assert!(err.retry_after >= 1);
        // Within the back-off, the source is not hammered.
        assert!(cache.key().await.is_err());
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
        *source.answer.lock().unwrap() = Ok(secret("K3", RSA));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cache.key().await.unwrap().key_pair_id(), "K3");
    }
}
