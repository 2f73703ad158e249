//! The functions' metrics, their alarms and their dashboard are one list: every metric the
//! code writes is in `shared::metrics::NAMES` and documented in `docs/operations.md`; each
//! alarm of `template.yaml` watches a metric the code writes, with the dimensions it writes
//! and the threshold the docs give; the dashboard shows every one. Reads the sources, the
//! template and the docs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use private_uploads::local::template::TEMPLATE_YAML;
use serde_norway::Value;
use shared::metrics::NAMES;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The metric names the code writes: the first argument of each `metrics::count(` and
/// `metrics::emit(` outside `metrics.rs` itself.
fn written() -> BTreeSet<String> {
    let root = workspace();
    let mut files = Vec::new();
    rust_sources(&root.join("shared/src"), &mut files);
    for function in std::fs::read_dir(root.join("functions")).unwrap() {
        rust_sources(&function.unwrap().path().join("src"), &mut files);
    }
    let mut names = BTreeSet::new();
    for file in files.iter().filter(|f| !f.ends_with("metrics.rs")) {
        let text = std::fs::read_to_string(file).unwrap();
        for call in ["metrics::count(", "metrics::emit("] {
            for rest in text.split(call).skip(1) {
                let name = rest.trim_start().trim_start_matches('"');
                let name: String = name.chars().take_while(|c| c.is_alphanumeric()).collect();
                names.insert(name);
            }
        }
    }
    names
}

/// A YAML value as text: `!Ref X` as `!Ref X`, a string as itself.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Tagged(tagged) => format!("{} {}", tagged.tag, text(&tagged.value)),
        Value::Sequence(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

#[test]
fn every_metric_written_is_listed_documented_watched_and_shown() {
    let listed: BTreeSet<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    assert_eq!(
        written(),
        listed,
        "the metrics the code writes are shared::metrics::NAMES"
    );

    let operations = std::fs::read_to_string(workspace().join("docs/operations.md")).unwrap();
    let doc = operations
        .split("### Metrics and alarms")
        .nth(1)
        .expect("docs/operations.md has \"### Metrics and alarms\"");
    for name in NAMES {
        assert!(
            doc.contains(&format!("`{name}`")),
            "{name} is not documented"
        );
    }

    let template: Value = serde_norway::from_str(TEMPLATE_YAML).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    let body = text(&resources[&Value::from("Dashboard")]["Properties"]["DashboardBody"]);
    for name in NAMES {
        let quoted = [format!("\"{name}\""), format!("\\\"{name}\\\"")];
        assert!(
            quoted.iter().any(|q| body.contains(q.as_str())),
            "the dashboard does not show {name}"
        );
    }

    // Each alarm on our own metrics: (alarm, metric, dimensions besides FunctionName, whose
    // function). Threshold: any at all in 5 minutes.
    let ours = [
        (
            "SigningUnavailableAlarm",
            "Unavailable",
            vec![("Code", "signing_unavailable")],
            "IssueViewUrlFunction",
        ),
        (
            "SigningKeyRefreshFailuresAlarm",
            "SigningKeyRefreshFailures",
            vec![],
            "IssueViewUrlFunction",
        ),
        (
            "AdoptionFailuresAlarm",
            "RecordFailures",
            vec![],
            "RecordOwnershipFunction",
        ),
    ];
    let mut watched = BTreeSet::new();
    for (alarm, metric, dimensions, function) in &ours {
        let p = &resources[&Value::from(*alarm)]["Properties"];
        assert_eq!(
            p["Namespace"],
            Value::from(shared::metrics::NAMESPACE),
            "{alarm}"
        );
        assert_eq!(p["MetricName"], Value::from(*metric), "{alarm}");
        let mut want = vec![("FunctionName".to_owned(), format!("!Ref {function}"))];
        want.extend(
            dimensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let got: Vec<(String, String)> = p["Dimensions"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|d| (text(&d["Name"]), text(&d["Value"])))
            .collect();
        assert_eq!(got, want, "{alarm}");
        assert_eq!(
            (
                text(&p["Statistic"]),
                text(&p["Period"]),
                text(&p["Threshold"]),
                text(&p["ComparisonOperator"])
            ),
            (
                "Sum".into(),
                "300".into(),
                "0".into(),
                "GreaterThanThreshold".into()
            ),
            "{alarm}"
        );
        assert!(
            text(&p["AlarmActions"]).contains("AlarmTopicArn"),
            "{alarm} notifies the topic"
        );
        watched.insert(alarm.to_string());
    }
    // Every alarm on our namespace is one of those.
    for (id, resource) in resources {
        let p = &resource["Properties"];
        if text(&resource["Type"]) == "AWS::CloudWatch::Alarm"
            && text(&p["Namespace"]) == "PrivateUploads"
        {
            assert!(
                watched.contains(&text(id)),
                "{} is not checked here",
                text(id)
            );
            assert!(NAMES.contains(&text(&p["MetricName"]).as_str()));
        }
    }

    // The API's 5xx rate: more than 5% of at least 10 requests in 5 minutes.
    let p = &resources[&Value::from("Api5xxRateAlarm")]["Properties"];
    let metrics = p["Metrics"].as_sequence().unwrap();
    let stat = |id: &str| {
        metrics.iter().find(|m| m["Id"] == id).map(|m| {
            (
                text(&m["MetricStat"]["Metric"]["Namespace"]),
                text(&m["MetricStat"]["Metric"]["MetricName"]),
                text(&m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]),
            )
        })
    };
    assert_eq!(
        stat("errors"),
        Some(("AWS/ApiGateway".into(), "5xx".into(), "!Ref HttpApi".into()))
    );
    assert_eq!(
        stat("requests"),
        Some((
            "AWS/ApiGateway".into(),
            "Count".into(),
            "!Ref HttpApi".into()
        ))
    );
    let rate = metrics.iter().find(|m| m["Id"] == "rate").unwrap();
    assert_eq!(
        text(&rate["Expression"]),
        "IF(requests >= 10, 100 * errors / requests, 0)"
    );
    assert_eq!(
        (text(&p["Threshold"]), text(&p["ComparisonOperator"])),
        ("5".into(), "GreaterThanThreshold".into())
    );

    // The failure queue keeps its alarm: any message waiting.
    let p = &resources[&Value::from("OwnershipFailuresAlarm")]["Properties"];
    assert_eq!(text(&p["MetricName"]), "ApproximateNumberOfMessagesVisible");
    assert_eq!(text(&p["Threshold"]), "0");
}
