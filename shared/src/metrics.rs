//! The functions' own CloudWatch metrics, in the embedded metric format (EMF): one JSON log
//! line per count or measure, which CloudWatch Logs turns into a metric of namespace
//! [`NAMESPACE`] with the dimension `FunctionName` (the function's, as Lambda names it) and
//! the metric's own. No agent and no API call: the line goes out through `tracing` (target
//! [`TARGET`]) and [`crate::logging`] writes it as is, whatever the log level or format.
//!
//! Which metrics there are, what they count, and the alarms and dashboard built on them:
//! `docs/operations.md`, "Metrics and alarms". Their names are [`NAMES`]; a test holds the
//! code, that list and the template to each other.

use std::sync::OnceLock;

/// The namespace of every metric.
pub const NAMESPACE: &str = "PrivateUploads";
/// Every metric the functions write.
pub const NAMES: [&str; 10] = [
    "UploadsIssued",
    "FilesReady",
    "TimeToReady",
    "FilesRejected",
    "RecordFailures",
    "QuotaExceeded",
    "Unavailable",
    "DependencyFailures",
    "SigningKeyAge",
    "SigningKeyRefreshFailures",
];

/// The `tracing` target of an EMF line, and its one field.
pub const TARGET: &str = "emf";
pub const FIELD: &str = "emf";

/// A metric's unit, as CloudWatch names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Seconds => "Seconds",
        }
    }
}

static FUNCTION: OnceLock<String> = OnceLock::new();

/// The `FunctionName` dimension: Lambda's `AWS_LAMBDA_FUNCTION_NAME`, read once, or
/// `local` (the local stack runs the three functions in one process).
fn function_name() -> &'static str {
    FUNCTION.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned())
    })
}

/// The EMF line of `value` of metric `name`, for `function`, with `dimensions`, at
/// `timestamp_ms` (epoch milliseconds).
pub fn record(
    function: &str,
    name: &str,
    unit: Unit,
    value: f64,
    dimensions: &[(&str, &str)],
    timestamp_ms: i64,
) -> String {
    let mut keys = vec!["FunctionName"];
    keys.extend(dimensions.iter().map(|(key, _)| *key));
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [keys],
                "Metrics": [{"Name": name, "Unit": unit.as_str()}],
            }],
        },
        "FunctionName": function,
        name: value,
    });
    for (key, value) in dimensions {
        line[*key] = serde_json::Value::from(*value);
    }
    line.to_string()
}

/// Write `value` of metric `name` now.
pub fn emit(name: &str, unit: Unit, value: f64, dimensions: &[(&str, &str)]) {
    let now = chrono::Utc::now().timestamp_millis();
    let line = record(function_name(), name, unit, value, dimensions, now);
    tracing::info!(target: TARGET, emf = line.as_str());
}

/// Count one of `name`.
pub fn count(name: &str, dimensions: &[(&str, &str)]) {
    emit(name, Unit::Count, 1.0, dimensions);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_embedded_metric_format() {
        let line = record(
            "stack-IssueUploadUrlFunction-AbC",
            "UploadsIssued",
            Unit::Count,
            1.0,
            &[("Mode", "put")],
            1_800_000_000_123,
        );
        let line: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            line,
            serde_json::json!({
                "_aws": {
                    "Timestamp": 1_800_000_000_123_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "PrivateUploads",
                        "Dimensions": [["FunctionName", "Mode"]],
                        "Metrics": [{"Name": "UploadsIssued", "Unit": "Count"}],
                    }],
                },
                "FunctionName": "stack-IssueUploadUrlFunction-AbC",
                "Mode": "put",
                "UploadsIssued": 1.0,
            })
        );
    }
}
