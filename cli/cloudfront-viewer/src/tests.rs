//! The checks against three signers: botocore's URLs (the golden vectors), our signer's
//! (`shared::cloudfront`), and raw signatures over hand-made policy bytes.

use std::net::IpAddr;

use serde_json::Value;
use shared::cloudfront::{HashAlgorithm, Policy, SigningKey, cloudfront_base64};

use super::*;

const RSA_PRIVATE: &str = include_str!("../../../shared/testdata/rsa2048-pkcs1.pem");
const RSA_PUBLIC: &str = include_str!("../../../shared/testdata/rsa2048-public.pem");
const EC_PRIVATE: &str = include_str!("../../../shared/testdata/p256-pkcs8.pem");
const EC_PUBLIC: &str = include_str!("../../../shared/testdata/p256-public.pem");
const BOTOCORE: &str = include_str!("../../../tests/golden/cloudfront.json");

fn at(url: &str, now: i64) -> ViewerRequest<'_> {
    ViewerRequest {
        url,
        source_ip: None,
        now,
    }
}

fn keys(id: &str, public: &str) -> Vec<TrustedKey> {
    vec![TrustedKey::from_pem(id, public).unwrap()]
}

#[test]
fn botocores_signed_urls_are_accepted() {
    let golden: Value = serde_json::from_str(BOTOCORE).unwrap();
    let id = golden["key_pair_id"].as_str().unwrap();
    let keys = keys(id, RSA_PUBLIC);
    let vectors = golden["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 10);
    for vector in vectors {
        let url = vector["expected"].as_str().unwrap();
        let policy = &vector["policy"];
        let now = policy["not_before"]
            .as_i64()
            .map_or(1_700_000_000, |t| t + 1);
        // An address inside the policy's network.
        let source_ip: Option<IpAddr> = policy["source_ip"].as_str().map(|cidr| {
            let network = cidr.split('/').next().unwrap();
            if network.contains(':') {
                format!("{network}7").parse().unwrap()
            } else {
                let (head, _) = network.rsplit_once('.').unwrap();
                format!("{head}.7").parse().unwrap()
            }
        });
        let grant = verify_signed_url(
            &keys,
            &ViewerRequest {
                url,
                source_ip,
                now,
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", vector["name"]));
        assert_eq!(grant.expires, vector["expires"].as_i64().unwrap());
        assert_eq!(grant.custom, !policy.is_null(), "{}", vector["name"]);
        // A byte changed anywhere in the signed part is refused.
        let tampered = url.replacen("cloudfront.net/", "cloudfront.net/x", 1);
        assert!(verify_signed_url(&keys, &at(&tampered, now)).is_err());
    }
}

#[test]
fn a_canned_policy_differing_by_one_byte_of_whitespace_is_refused() {
    let key = SigningKey::from_pem("K1", RSA_PRIVATE).unwrap();
    let keys = keys("K1", RSA_PUBLIC);
    let resource = "https://d.example/users/alice/019a";
    let documented = format!(
        r#"{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":2000}}}}}}]}}"#
    );
    let spaced = documented.replacen("\"Statement\":", "\"Statement\": ", 1);
    assert_eq!(spaced.len(), documented.len() + 1);
    let url_signed_over = |policy: &str| {
        let signature = key.sign(policy.as_bytes(), HashAlgorithm::Sha256).unwrap();
        format!(
            "{resource}?Expires=2000&Signature={}&Key-Pair-Id=K1&Hash-Algorithm=SHA256",
            cloudfront_base64(&signature)
        )
    };
    assert!(verify_signed_url(&keys, &at(&url_signed_over(&documented), 1)).is_ok());
    assert_eq!(
        verify_signed_url(&keys, &at(&url_signed_over(&spaced), 1)),
        Err(Refusal::BadSignature)
    );
    // The same space inside a custom policy is the policy's own business: its bytes are
    // what was signed, and it reads as the same JSON.
    let custom = format!(
        "{resource}?Policy={}&Signature={}&Key-Pair-Id=K1&Hash-Algorithm=SHA256",
        cloudfront_base64(spaced.as_bytes()),
        cloudfront_base64(&key.sign(spaced.as_bytes(), HashAlgorithm::Sha256).unwrap())
    );
    assert!(verify_signed_url(&keys, &at(&custom, 1)).unwrap().custom);
}

#[test]
fn our_signers_urls_verify_for_every_engine() {
    let url = "https://d.example/users/alice/0190-x?v=1";
    for (private, public, hash, suffix) in [
        (
            RSA_PRIVATE,
            RSA_PUBLIC,
            HashAlgorithm::Sha1,
            "&Key-Pair-Id=K1",
        ),
        (
            RSA_PRIVATE,
            RSA_PUBLIC,
            HashAlgorithm::Sha256,
            "&Key-Pair-Id=K1&Hash-Algorithm=SHA256",
        ),
        // An EC key signs with SHA-256 whatever was asked.
        (
            EC_PRIVATE,
            EC_PUBLIC,
            HashAlgorithm::Sha1,
            "&Key-Pair-Id=K1&Hash-Algorithm=SHA256",
        ),
    ] {
        let keys = keys("K1", public);
        let signed = SigningKey::from_pem("K1", private)
            .unwrap()
            .sign_canned_url(url, 2000, hash)
            .unwrap();
        assert!(signed.ends_with(suffix), "{signed}");
        let grant = verify_signed_url(&keys, &at(&signed, 1999)).unwrap();
        assert_eq!((grant.resource.as_str(), grant.expires), (url, 2000));
        assert_eq!(
            verify_signed_url(&keys, &at(&signed, 2000)),
            Err(Refusal::Expired(2000))
        );
        for tampered in [
            signed.replace("alice", "bob"),
            signed.replace("Expires=2000", "Expires=3000"),
            signed.replace("v=1", "v=2"),
        ] {
            assert_eq!(
                verify_signed_url(&keys, &at(&tampered, 1)),
                Err(Refusal::BadSignature),
                "{tampered}"
            );
        }
    }
}

#[test]
fn wrong_keys_ids_hashes_and_shapes_are_refused() {
    let key = SigningKey::from_pem("K1", RSA_PRIVATE).unwrap();
    let signed = key
        .sign_canned_url("https://d.example/a", 2000, HashAlgorithm::Sha256)
        .unwrap();
    let rsa = keys("K1", RSA_PUBLIC);
    assert_eq!(
        verify_signed_url(&keys("K1", EC_PUBLIC), &at(&signed, 1)),
        Err(Refusal::BadSignature)
    );
    let other_id = signed.replace("Key-Pair-Id=K1", "Key-Pair-Id=K9");
    assert_eq!(
        verify_signed_url(&rsa, &at(&other_id, 1)),
        Err(Refusal::UnknownKey("K9".into()))
    );
    let sha1_claimed = signed.replace("&Hash-Algorithm=SHA256", "");
    assert_eq!(
        verify_signed_url(&rsa, &at(&sha1_claimed, 1)),
        Err(Refusal::BadSignature)
    );
    let md5 = signed.replace("Hash-Algorithm=SHA256", "Hash-Algorithm=MD5");
    assert_eq!(
        verify_signed_url(&rsa, &at(&md5, 1)),
        Err(Refusal::BadHashAlgorithm("MD5".into()))
    );
    assert_eq!(
        verify_signed_url(&rsa, &at("https://d.example/a", 1)),
        Err(Refusal::Missing("Signature"))
    );
    let twice = format!("{signed}&Expires=2000");
    assert_eq!(
        verify_signed_url(&rsa, &at(&twice, 1)),
        Err(Refusal::Ambiguous)
    );
    assert!(
        TrustedKey::from_pem("K1", RSA_PRIVATE).is_err(),
        "a private key"
    );
}

#[test]
fn custom_policies_cover_wildcards_times_and_addresses() {
    let key = SigningKey::from_pem("K1", RSA_PRIVATE).unwrap();
    let policy = Policy {
        resource: "https://d.example/users/alice/*".into(),
        expires: 100,
        not_before: Some(10),
        source_ip: Some("192.0.2.0/24".into()),
    };
    let signed = key
        .sign_url(
            "https://d.example/users/alice/f1",
            &policy,
            HashAlgorithm::Sha1,
        )
        .unwrap();
    assert!(signed.contains("?Policy="));
    let keys = keys("K1", RSA_PUBLIC);
    let from = |url: &str, ip: &str, now| {
        verify_signed_url(
            &keys,
            &ViewerRequest {
                url,
                source_ip: ip.parse().ok(),
                now,
            },
        )
    };
    let grant = from(&signed, "192.0.2.7", 50).unwrap();
    assert_eq!(
        (grant.resource.as_str(), grant.expires, grant.not_before),
        ("https://d.example/users/alice/*", 100, Some(10))
    );
    assert_eq!(grant.source_ip.as_deref(), Some("192.0.2.0/24"));
    assert_eq!(
        from(&signed, "198.51.100.1", 50),
        Err(Refusal::WrongSourceIp)
    );
    assert_eq!(from(&signed, "", 50), Err(Refusal::WrongSourceIp));
    assert_eq!(
        from(&signed, "192.0.2.7", 10),
        Err(Refusal::NotYetValid(10))
    );
    assert_eq!(from(&signed, "192.0.2.7", 100), Err(Refusal::Expired(100)));
    let elsewhere = signed.replace("/users/alice/f1", "/users/bob/f1");
    assert_eq!(
        from(&elsewhere, "192.0.2.7", 50),
        Err(Refusal::WrongResource)
    );
}

#[test]
fn signed_cookies_open_their_prefix_and_nothing_else() {
    let key = SigningKey::from_pem("K1", RSA_PRIVATE).unwrap();
    let keys = keys("K1", RSA_PUBLIC);
    let policy = Policy {
        resource: "https://d1.net/users/alice/*".into(),
        expires: 2_000,
        not_before: None,
        source_ip: None,
    };
    for hash in [HashAlgorithm::Sha1, HashAlgorithm::Sha256] {
        let cookies = key.sign_cookies(&policy, false, hash).unwrap().0;
        let jar: Vec<(&str, &str)> = cookies.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let open = |url: &str, now: i64, jar: &[(&str, &str)]| {
            verify_signed_cookies(&keys, &at(url, now), jar)
        };
        assert!(open("https://d1.net/users/alice/019a", 1_000, &jar).is_ok());
        assert!(open("https://d1.net/users/alice/a/b?x=1", 1_000, &jar).is_ok());
        for elsewhere in [
            "https://d1.net/users/bob/019a",
            "https://d1.net/users/alice2/019a",
        ] {
            assert_eq!(
                open(elsewhere, 1_000, &jar),
                Err(Refusal::WrongResource),
                "{elsewhere}"
            );
        }
        assert_eq!(
            open("https://d1.net/users/alice/019a", 2_000, &jar),
            Err(Refusal::Expired(2_000))
        );
        let mut tampered = jar.clone();
        let flipped = format!("A{}", &jar[1].1[1..]);
        tampered[1].1 = &flipped;
        assert!(open("https://d1.net/users/alice/019a", 1_000, &tampered).is_err());
        let mut twice = jar.clone();
        twice.push(jar[0]);
        assert_eq!(
            open("https://d1.net/users/alice/019a", 1_000, &twice),
            Err(Refusal::Ambiguous)
        );
        assert!(open("https://d1.net/users/alice/019a", 1_000, &[]).is_err());
    }
    assert!(has_url_signature("https://d1.net/a?Expires=1&Signature=x"));
    assert!(!has_url_signature("https://d1.net/a?v=2"));
}

#[test]
fn policies_outside_the_documented_shape_are_refused() {
    let key = SigningKey::from_pem("K1", RSA_PRIVATE).unwrap();
    let keys = keys("K1", RSA_PUBLIC);
    let url = "https://d.example/a";
    for (policy, why) in [
        (r#"{"Statement":[]}"#, "exactly one statement"),
        (
            r#"{"Statement":[{"Resource":"*","Condition":{}}]}"#,
            "no DateLessThan",
        ),
        (
            r#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":"2000"}}}]}"#,
            "Unix time",
        ),
        (
            r#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":2000},"StringEquals":{}}}]}"#,
            "unknown condition",
        ),
        (
            r#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":2000},"IpAddress":{"AWS:SourceIp":"nowhere"}}}]}"#,
            "CIDR",
        ),
    ] {
        let signed = format!(
            "{url}?Policy={}&Signature={}&Key-Pair-Id=K1",
            cloudfront_base64(policy.as_bytes()),
            cloudfront_base64(&key.sign(policy.as_bytes(), HashAlgorithm::Sha1).unwrap())
        );
        match verify_signed_url(&keys, &at(&signed, 1)) {
            Err(Refusal::MalformedPolicy(text)) => assert!(text.contains(why), "{text}"),
            other => panic!("{policy}: {other:?}"),
        }
    }
}

#[test]
fn wildcards_and_cidrs_as_documented() {
    assert!(wildcard_match("https://d/*", "https://d/a/b?c=d"));
    assert!(wildcard_match("https://d/a?c", "https://d/abc"));
    assert!(!wildcard_match("https://d/a?c", "https://d/ac"));
    assert!(!wildcard_match("https://d/a/*", "https://d/b/c"));
    assert!(wildcard_match("*", ""));
    assert!(wildcard_match("a*b*c", "aXXbYYc"));
    assert!(!wildcard_match("a*b*c", "aXXbYY"));
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(cidr_contains("192.0.2.0/24", ip("192.0.2.255")), Some(true));
    assert_eq!(cidr_contains("192.0.2.0/24", ip("192.0.3.0")), Some(false));
    assert_eq!(cidr_contains("192.0.2.9", ip("192.0.2.9")), Some(true));
    assert_eq!(cidr_contains("0.0.0.0/0", ip("203.0.113.1")), Some(true));
    assert_eq!(
        cidr_contains("2001:db8::/32", ip("2001:db8:1::1")),
        Some(true)
    );
    assert_eq!(cidr_contains("2001:db8::/32", ip("192.0.2.1")), Some(false));
    assert_eq!(cidr_contains("192.0.2.0/33", ip("192.0.2.1")), None);
    assert_eq!(cidr_contains("nowhere", ip("192.0.2.1")), None);
}
