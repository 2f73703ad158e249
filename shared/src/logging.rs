//! The one log set-up of the three functions (and of `private-uploads up`).
//!
//! It honours Lambda's advanced logging controls as `lambda_runtime`'s default subscriber
//! does (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`; `AWS_LAMBDA_LOG_FORMAT=JSON`
//! for JSON lines), and adds a ceiling that no level setting lifts: the crates in
//! [`CEILING`] log at most at the level given there, because below it they write request
//! and response contents that carry secrets. `tests/no_secrets_in_logs.rs` runs the whole
//! stack at TRACE through this set-up and searches the output for every token, signature,
//! key and credential of the run.

use serde_json::{Map, Value};

use crate::metrics;
use tracing::field::{Field, Visit};
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

/// Targets (crates or modules) held at a level, whatever the configured one, and why.
pub const CEILING: &[(&str, LevelFilter, &str)] = &[(
    "s3s",
    LevelFilter::INFO,
    "the local S3 and STS stand-in's library logs every request and response at DEBUG, \
     with their signatures and the credentials STS hands out",
)];

/// How lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Text without colour codes (what CloudWatch Logs shows as is).
    Plain,
    /// Text with colours, for a terminal.
    Coloured,
    /// One flat JSON object a line (`AWS_LAMBDA_LOG_FORMAT=JSON`): [`FlatJson`].
    Json,
}

/// What the functions log when nothing is configured.
pub const DEFAULT_LEVEL: &str = "info";

/// The level directives from Lambda's logging controls, else `RUST_LOG`, else `info`.
pub fn directives_from_env() -> String {
    std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .map(|level| level.to_ascii_lowercase())
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| DEFAULT_LEVEL.to_owned())
}

/// A subscriber logging what `directives` (an `EnvFilter` string; what it cannot parse is
/// ignored) lets through, under the [`CEILING`], in `format`, to `writer`.
pub fn subscriber<W>(
    directives: &str,
    format: Format,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let levels = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(directives);
    let ceiling = CEILING.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, (target, level, _)| t.with_target(*target, *level),
    );
    // Metric lines are not log lines: no level setting hides them, and they go out as is.
    let not_metrics = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target(metrics::TARGET, LevelFilter::OFF);
    let filter = levels.and(ceiling).and(not_metrics);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer.clone())
        .with_ansi(format == Format::Coloured);
    let layer = match format {
        Format::Json => layer
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_filter(filter)
            .boxed(),
        Format::Plain | Format::Coloured => layer.with_filter(filter).boxed(),
    };
    let metric_lines = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .event_format(EmfLine)
        .with_filter(Targets::new().with_target(metrics::TARGET, LevelFilter::TRACE));
    Registry::default().with(layer).with(metric_lines)
}

/// JSON lines as Lambda's advanced logging controls read them: one flat object a line,
/// `timestamp`, `level` and `message` at the top, then the fields of every span the line was
/// logged in (outermost first: Lambda's `requestId` from the runtime's span, our
/// `request_id` from [`crate::http::serve`]'s), then the event's own fields.
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        line.insert("timestamp".into(), now.into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        for span in ctx
            .event_scope()
            .into_iter()
            .flat_map(|scope| scope.from_root())
        {
            let extensions = span.extensions();
            let fields = extensions.get::<FormattedFields<N>>();
            if let Some(Ok(Value::Object(fields))) =
                fields.map(|f| serde_json::from_str::<Value>(f.as_str()))
            {
                line.extend(fields);
            }
        }
        event.record(&mut Fields(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// A metric's line ([`crate::metrics`]): its `emf` field, as it is.
struct EmfLine;

impl<S, N> FormatEvent<S, N> for EmfLine
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Map::new();
        event.record(&mut Fields(&mut fields));
        match fields.get(metrics::FIELD) {
            Some(Value::String(line)) => writeln!(writer, "{line}"),
            _ => Ok(()),
        }
    }
}

/// An event's fields into a JSON object, each under its own name.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
}

/// Install the functions' subscriber: stdout (Lambda sends it to CloudWatch Logs), the level
/// and format from the environment. Call once, first thing in `main`.
pub fn init() {
    let format =
        if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
            Format::Json
        } else {
            Format::Plain
        };
    let subscriber = subscriber(&directives_from_env(), format, std::io::stdout);
    // Also routes the `log` crate's records through the same filters.
    let _ = tracing_subscriber::util::SubscriberInitExt::try_init(subscriber);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn logged(directives: &str, format: Format, emit: impl FnOnce()) -> String {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buffer.clone();
        let writer = move || SinkWriter(sink.clone());
        tracing::subscriber::with_default(subscriber(directives, format, writer), emit);
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct SinkWriter(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for SinkWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_ceiling_holds_at_every_level_asked_for() {
        for directives in ["trace", "s3s=trace", "debug,s3s::service=trace"] {
            let out = logged(directives, Format::Plain, || {
                tracing::debug!(target: "s3s::service", "a request with its signature");
                tracing::info!(target: "s3s::service", "started");
                tracing::debug!(target: "shared::aws", "our own debug line");
            });
            assert!(!out.contains("signature"), "{directives}: {out}");
            assert!(out.contains("started"), "{directives}: {out}");
            assert_eq!(
                out.contains("our own debug line"),
                directives != "s3s=trace",
                "{directives}: {out}"
            );
        }
    }

    #[test]
    fn metric_lines_go_out_as_they_are_whatever_the_level_and_format() {
        for format in [Format::Plain, Format::Coloured, Format::Json] {
            let out = logged("error", format, || {
                crate::metrics::count("UploadsIssued", &[("Mode", "put")]);
                tracing::warn!("hidden");
            });
            assert!(!out.contains("hidden"), "{format:?}: {out}");
            let line: serde_json::Value = serde_json::from_str(out.trim())
                .unwrap_or_else(|e| panic!("{format:?}: {e}: {out}"));
            assert_eq!(line["UploadsIssued"], 1.0, "{format:?}: {line}");
            assert_eq!(line["Mode"], "put");
            assert_eq!(
                line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
                "PrivateUploads"
            );
        }
    }

    #[test]
    fn levels_and_formats_follow_the_settings() {
        let out = logged("warn", Format::Plain, || {
            tracing::info!("hidden");
            tracing::warn!(file_id = "f1", "shown");
        });
        assert!(
            !out.contains("hidden") && out.contains("shown") && out.contains("f1"),
            "{out}"
        );
        assert!(
            !out.contains('\u{1b}'),
            "no colour codes in plain text: {out:?}"
        );
        let out = logged("info", Format::Json, || {
            let lambda = tracing::info_span!("Lambda runtime invoke", requestId = "8476a536");
            let _lambda = lambda.enter();
            let ours = tracing::info_span!("request", request_id = "Jw6Yb3mVoAMEP-c=");
            let _ours = ours.enter();
            tracing::info!(file_id = "f1", size = 5, "ready")
        });
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(line["message"], "ready", "flat: {line}");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["file_id"], "f1");
        assert_eq!(line["size"], 5);
        assert_eq!(line["requestId"], "8476a536", "Lambda's request id");
        assert_eq!(line["request_id"], "Jw6Yb3mVoAMEP-c=", "API Gateway's");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
        assert!(
            line.get("fields").is_none() && line.get("spans").is_none(),
            "{line}"
        );
    }
}
