//! Property tests: for random resource URLs (any Unicode, spaces, `+`, `%`, quotes, query
//! strings, long paths), expiry times and engines, the CloudFront URLs we sign verify under an
//! independent verifier (Python `cryptography`, tests/golden/verify_cloudfront.py), and the
//! canned policy we sign is exactly the one CloudFront documents, as Python's json.dumps
//! writes it.

use std::io::Write as _;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use shared::cloudfront::{HashAlgorithm, MAX_EPOCH_TIME, Policy, SigningKey};

const CASES: usize = 256;

fn resource() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        "[a-zA-Z0-9._~-]{1,20}",
        "[a-z %+]{1,12}",
        "(%[0-9A-F]{2}){1,6}",
        "\\PC{1,8}",
        "[\"\\\\<>]{1,3}",
    ];
    (
        prop::collection::vec(segment, 1..8),
        prop::option::of("[a-z]{1,5}=[a-z0-9%+]{0,8}(&[a-z]{1,5}=[a-z0-9]{0,4}){0,2}"),
        prop::sample::select(vec![
            "https://d111111abcdef8.cloudfront.net",
            "https://cdn.example.com",
            "http://127.0.0.1:3002",
        ]),
    )
        .prop_map(|(segments, query, base)| {
            let mut url = format!("{base}/{}", segments.join("/"));
            if let Some(query) = query {
                url.push('?');
                url.push_str(&query);
            }
            url
        })
}

#[test]
fn random_signed_urls_verify_independently_with_the_documented_policy() {
    let keys = [
        (
            "rsa",
            include_str!("../shared/testdata/rsa2048-pkcs8.pem"),
            include_str!("../shared/testdata/rsa2048-public.pem"),
        ),
        (
            "ecdsa",
            include_str!("../shared/testdata/p256-pkcs8.pem"),
            include_str!("../shared/testdata/p256-public.pem"),
        ),
    ];
    let signers: Vec<SigningKey> = keys
        .iter()
        .map(|(_, private, _)| SigningKey::from_pem("K2JCJMDEHXQW5F", private).unwrap())
        .collect();
    let strategy = (
        resource(),
        1i64..=MAX_EPOCH_TIME,
        0usize..2,
        prop::bool::ANY,
    );
    let mut runner = TestRunner::new(Config::default());
    let mut cases = Vec::with_capacity(CASES);
    for _ in 0..CASES {
        let (url, expires, key, sha256) = strategy.new_tree(&mut runner).unwrap().current();
        let hash = if sha256 {
            HashAlgorithm::Sha256
        } else {
            HashAlgorithm::Sha1
        };
        let signed = signers[key].sign_canned_url(&url, expires, hash).unwrap();
        cases.push((url, expires, key, hash, signed));
    }

    let mut child = Command::new(integration_tests::venv_tool("PYTHON", "python"))
        .arg(format!(
            "{}/golden/verify_cloudfront.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the Python verifier starts");
    {
        let mut stdin = child.stdin.take().unwrap();
        for (url, _, key, _, signed) in &cases {
            let line = json!({"url": url, "signed": signed, "public_key_pem": keys[*key].2, "key_pair_id": "K2JCJMDEHXQW5F"});
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the verifier failed");
    let verdicts: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(verdicts.len(), cases.len());
    let mut engines = std::collections::BTreeSet::new();
    for ((url, expires, key, hash, signed), verdict) in cases.iter().zip(&verdicts) {
        assert_eq!(
            verdict["ok"], true,
            "{} for {url:?} ({}, {hash}): {signed}",
            verdict["reason"], keys[*key].0
        );
        assert_eq!(
            verdict["policy"].as_str().unwrap(),
            Policy::canned(url.clone(), *expires).to_json(),
            "policy for {url:?}"
        );
        engines.insert((
            keys[*key].0,
            signers[*key].effective_hash(*hash).to_string(),
        ));
    }
    // RSA-SHA1, RSA-SHA256 and ECDSA-SHA256 were all exercised.
    assert_eq!(engines.len(), 3, "{engines:?}");
}
