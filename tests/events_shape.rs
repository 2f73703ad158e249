//! Each file in `events/` has the shape `sam local generate-event` makes for its source:
//! the same field names at the same places with the same JSON types (free-form maps such as
//! headers and JWT claims excepted), nothing invented, and the fields a handler relies on
//! present. The samples come from the SAM CLI itself, run here.

use std::process::Command;

use serde_json::Value;

fn generate(args: &[&str]) -> Value {
    let output = Command::new(integration_tests::venv_tool("SAM", "sam"))
        .args(["local", "generate-event"])
        .args(args)
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .expect("sam runs");
    assert!(
        output.status.success(),
        "sam local generate-event {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("sam prints JSON")
}

/// Maps whose keys are data (header names, claim names), not schema.
const FREE_MAPS: [&str; 6] = [
    ".headers",
    ".queryStringParameters",
    ".pathParameters",
    ".stageVariables",
    ".requestContext.authorizer.jwt.claims",
    ".Records[].responseElements",
];

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences between `ours` and `sample` at `path`; `both_ways` also reports sample fields
/// missing from ours.
fn compare(ours: &Value, sample: &Value, path: &str, both_ways: bool, problems: &mut Vec<String>) {
    if FREE_MAPS.contains(&path) {
        match ours.as_object() {
            Some(map) if map.values().all(Value::is_string) => {}
            _ => problems.push(format!("{path}: must be an object of strings")),
        }
        return;
    }
    match (ours, sample) {
        (Value::Object(ours), Value::Object(sample)) => {
            for (key, value) in ours {
                match sample.get(key) {
                    Some(expected) => compare(
                        value,
                        expected,
                        &format!("{path}.{key}"),
                        both_ways,
                        problems,
                    ),
                    None => problems.push(format!("{path}.{key}: not in the SAM sample")),
                }
            }
            if both_ways {
                for key in sample.keys().filter(|k| !ours.contains_key(*k)) {
                    problems.push(format!("{path}.{key}: missing"));
                }
            }
        }
        (Value::Array(ours), Value::Array(sample)) => {
            if let Some(expected) = sample.first() {
                for item in ours {
                    compare(item, expected, &format!("{path}[]"), both_ways, problems);
                }
            }
        }
        // API Gateway sends `null` for absent lists such as JWT scopes.
        (Value::Null, Value::Array(_)) => {}
        (ours, sample) if kind(ours) != kind(sample) => {
            problems.push(format!(
                "{path}: {} where SAM has {}",
                kind(ours),
                kind(sample)
            ));
        }
        _ => {}
    }
}

fn field<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn events() -> Vec<(String, Value)> {
    let dir = format!("{}/../events", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap(),
            )
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

#[test]
fn every_event_file_has_the_shape_sam_generates_for_its_source() {
    let http_api = generate(&["apigateway", "http-api-proxy"]);
    let s3_put = generate(&["s3", "put"]);
    let files = events();
    assert!(files.len() >= 6, "{files:?}");
    for (name, event) in &files {
        let mut problems = Vec::new();
        if name.starts_with("api-") {
            // API Gateway omits what a request does not have (cookies, body, path
            // parameters), so fields may be missing, but none may be invented or retyped.
            compare(event, &http_api, "", false, &mut problems);
            for required in [
                "version",
                "routeKey",
                "rawPath",
                "rawQueryString",
                "headers",
                "isBase64Encoded",
                "requestContext.http.method",
                "requestContext.http.path",
                "requestContext.http.sourceIp",
                "requestContext.requestId",
                "requestContext.stage",
                "requestContext.timeEpoch",
                "requestContext.authorizer.jwt.claims",
            ] {
                if field(event, required).is_none() {
                    problems.push(format!("{required}: missing"));
                }
            }
            let claims = &event["requestContext"]["authorizer"]["jwt"]["claims"];
            for claim in ["sub", "iss"] {
                if !claims[claim].is_string() {
                    problems.push(format!("the JWT claims have no {claim}"));
                }
            }
            assert_eq!(event["version"], "2.0", "{name}: payload format 2.0");
        } else if name.starts_with("s3-") {
            compare(event, &s3_put, "", true, &mut problems);
        } else {
            problems.push("unknown source: name event files api-*.json or s3-*.json".into());
        }
        assert!(problems.is_empty(), "{name}:\n  {}", problems.join("\n  "));
    }
}

#[test]
fn the_comparison_catches_invented_and_retyped_fields() {
    let sample = serde_json::json!({"a": {"b": 1, "c": "x"}, "headers": {"h": "v"}});
    let mut problems = Vec::new();
    compare(
        &serde_json::json!({"a": {"b": "1", "d": true}, "headers": {"any": "thing"}}),
        &sample,
        "",
        true,
        &mut problems,
    );
    assert_eq!(
        problems,
        [
            ".a.b: string where SAM has number",
            ".a.d: not in the SAM sample",
            ".a.c: missing"
        ]
    );
}
