//! `private-uploads keygen`: a CloudFront key pair, as the template and the secret want it.

use crate::keys::{KeyKind, generate};

/// Print the public key (stdout) and the secret JSON (stdout), with a note on each (stderr).
pub fn run(kind: KeyKind, key_pair_id: &str) -> Result<(), String> {
    let (public, secret) = keygen(kind, key_pair_id)?;
    eprintln!("# Public key: the template's CloudFrontPublicKeyPem parameter.");
    print!("{public}");
    eprintln!(
        "# Secret JSON: aws secretsmanager put-secret-value --secret-id <SecretArn> --secret-string file://secret.json"
    );
    println!("{secret}");
    Ok(())
}

/// `keygen`: the public key PEM (the template's `CloudFrontPublicKeyPem`) and the secret JSON.
pub fn keygen(kind: KeyKind, key_pair_id: &str) -> Result<(String, String), String> {
    let pair = generate(kind)?;
    let secret =
        serde_json::json!({"key_pair_id": key_pair_id, "private_key_pem": pair.private_pem});
    Ok((
        pair.public_pem,
        serde_json::to_string_pretty(&secret).map_err(|e| e.to_string())?,
    ))
}
