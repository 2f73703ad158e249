//! The command's exit statuses, as docs/local-stack.md states them: 2 for a usage error (a
//! missing or malformed argument), 1 for any other failure.

// Test helpers fail loudly on unexpected input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn status(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_private-uploads"))
        .args(args)
        .env("PRIVATE_UPLOADS_DATA_DIR", std::env::temp_dir())
        .output()
        .expect("the command runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2_and_other_failures_exit_1() {
    let sign = |expires: &str, key_file: &str| {
        status(&[
            "sign-url",
            "--key-file",
            key_file,
            "--key-pair-id",
            "K2JCJMDEHXQW5F",
            "--expires",
            expires,
            "https://d111111abcdef8.cloudfront.net/users/alice/x",
        ])
    };
    for (args, why) in [
        (
            sign("yesterday", "/nonexistent.pem"),
            "a malformed --expires",
        ),
        (sign("1", "/nonexistent.pem"), "an --expires in the past"),
        (
            status(&["sign-url", "--key-pair-id", "K2JCJMDEHXQW5F"]),
            "missing arguments",
        ),
        (
            status(&["keygen", "--key-pair-id", "k2jcjmdehxqw5f"]),
            "a malformed key pair id",
        ),
        (status(&["no-such-command"]), "an unknown command"),
    ] {
        assert_eq!(args.0, Some(2), "{why}: {}", args.1);
    }
    let (code, stderr) = sign("5m", "/nonexistent.pem");
    assert_eq!(code, Some(1), "a key file that cannot be read: {stderr}");
    assert!(stderr.contains("/nonexistent.pem"), "{stderr}");
}
