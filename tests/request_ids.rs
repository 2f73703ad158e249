//! A request id followed from the client to the log: every answer of the local API carries
//! `apigw-requestid` (a route's, a refusal's, the authorizer's 401), each request its own;
//! every error body the functions answer has `request_id` equal to it; and every log line
//! the functions write while answering carries it as a top-level field of the flat JSON
//! lines Lambda's logging controls read ([`shared::logging::FlatJson`]).
//!
//! Its own test binary: the subscriber it installs is process-wide.

use integration_tests::capture::Captured;
use integration_tests::running::{Answer, Body, Running};
use serde_json::{Value, json};

/// The lines logged so far, each parsed (a line that is not JSON fails the test).
fn lines(captured: &Captured) -> Vec<Value> {
    captured
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn request_id(answer: &Answer) -> String {
    answer
        .headers
        .get("apigw-requestid")
        .unwrap_or_else(|| panic!("no apigw-requestid header: {answer:?}"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_id_goes_from_the_answer_to_the_log() {
    let captured = Captured::install("info", shared::logging::Format::Json);
    let run = Running::start().await;
    let token = run.token("alice");

    let png = json!({"filename": "a.png", "content_type": "image/png", "size": 5});
    let issued = run
        .call("POST", "/uploads", Some(&token), Body::Json(png))
        .await;
    assert_eq!(issued.status, 201, "{issued:?}");
    let issued_id = request_id(&issued);

    let empty = json!({"filename": "a.png", "content_type": "image/png", "size": 0});
    let refused = run
        .call("POST", "/uploads", Some(&token), Body::Json(empty))
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let refused_id = request_id(&refused);
    assert_eq!(refused.body["request_id"], refused_id.as_str());

    let missing = run
        .call(
            "GET",
            "/files/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(missing.body["request_id"], request_id(&missing).as_str());

    // The authorizer's 401 is API Gateway's own body, with the header only.
    let unsigned = run.call("GET", "/files", None, Body::None).await;
    assert_eq!(unsigned.status, 401);
    assert_eq!(unsigned.body, json!({"message": "Unauthorized"}));
    let unsigned_id = request_id(&unsigned);

    let ids = [&issued_id, &refused_id, &request_id(&missing), &unsigned_id];
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "each request its own id: {ids:?}"
    );

    // The log lines; the metric lines (`_aws`, tests/metrics.rs) are not log lines.
    let lines: Vec<Value> = lines(&captured)
        .into_iter()
        .filter(|line| line.get("_aws").is_none())
        .collect();
    for line in &lines {
        assert!(line["message"].is_string(), "a flat line: {line}");
        assert!(line.get("fields").is_none(), "a flat line: {line}");
    }
    let of = |id: &str| -> Vec<&Value> { lines.iter().filter(|l| l["request_id"] == id).collect() };
    let refusal = of(&refused_id);
    assert!(
        refusal
            .iter()
            .any(|l| l["message"] == "request refused" && l["code"] == "invalid_size"),
        "the refusal's own log line names its request: {refusal:?}"
    );
    let issue = of(&issued_id);
    assert!(
        issue
            .iter()
            .any(|l| l["message"] == "upload issued" && l["file_id"] == issued.body["file_id"]),
        "the upload's log line names its request: {issue:?}"
    );
    run.stop().await;
}
