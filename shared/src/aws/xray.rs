//! An X-Ray subsegment for every AWS call the functions make, so a trace shows where an
//! invocation's time went (DynamoDB, S3, Secrets Manager, STS) and which call failed.
//!
//! Lambda's active tracing (`Tracing: Active`) records one segment per invocation and gives
//! the function its id in `_X_AMZN_TRACE_ID` (`Root=…;Parent=…;Sampled=1`, set by the
//! runtime before each invocation). [`XRayCalls`] is an SDK interceptor: after each call
//! (with its retries) it sends one subsegment under that parent to the X-Ray daemon Lambda
//! runs at `AWS_XRAY_DAEMON_ADDRESS`, over UDP as the X-Ray SDKs do: name the service,
//! namespace `aws`, the operation, S3's or the service's request id, the HTTP status, and
//! `error` (4xx), `throttle` (429) or `fault` (5xx, or no answer). Nothing is sent for an
//! invocation that is not sampled, or without a daemon (the local stack); a send that fails
//! is dropped, never the call.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::time::SystemTime;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::{Value, json};

/// The environment variable Lambda sets to the daemon's address.
pub const DAEMON_ADDRESS_VAR: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// The environment variable the runtime sets to the invocation's trace header.
pub const TRACE_HEADER_VAR: &str = "_X_AMZN_TRACE_ID";

/// Where a subsegment belongs: a sampled invocation's trace and its function segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub parent_id: String,
}

impl TraceContext {
    /// The context of an `X-Amzn-Trace-Id` header (`Root=1-…;Parent=…;Sampled=1`), or
    /// `None` when it is not sampled or lacks a root or a parent.
    pub fn parse(header: &str) -> Option<Self> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = false;
        for field in header.split(';') {
            match field.trim().split_once('=') {
                Some(("Root", value)) => root = Some(value),
                Some(("Parent", value)) => parent = Some(value),
                Some(("Sampled", value)) => sampled = value == "1",
                _ => {}
            }
        }
        let valid_root = |r: &&str| r.starts_with("1-") && r.len() == 35;
        let valid_parent = |p: &&str| p.len() == 16 && p.bytes().all(|b| b.is_ascii_hexdigit());
        Some(Self {
            trace_id: root.filter(valid_root)?.to_owned(),
            parent_id: parent.filter(valid_parent)?.to_owned(),
        })
        .filter(|_| sampled)
    }
}

/// One finished AWS call, as the interceptor saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsCall<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub started: SystemTime,
    pub ended: SystemTime,
    /// The last attempt's HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    pub request_id: Option<&'a str>,
}

fn seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The subsegment document for `call` under `trace`, with the id `id` (16 hex digits).
pub fn subsegment(trace: &TraceContext, call: &AwsCall<'_>, id: &str) -> Value {
    let mut doc = json!({
        "name": call.service,
        "id": id,
        "trace_id": trace.trace_id,
        "parent_id": trace.parent_id,
        "start_time": seconds(call.started),
        "end_time": seconds(call.ended.max(call.started)),
        "type": "subsegment",
        "namespace": "aws",
        "aws": {"operation": call.operation},
    });
    if let Some(request_id) = call.request_id {
        doc["aws"]["request_id"] = json!(request_id);
    }
    match call.status {
        Some(status) => {
            doc["http"] = json!({"response": {"status": status}});
            if status == 429 {
                doc["throttle"] = json!(true);
            }
            if (400..500).contains(&status) {
                doc["error"] = json!(true);
            } else if status >= 500 {
                doc["fault"] = json!(true);
            }
        }
        None => doc["fault"] = json!(true),
    }
    doc
}

/// The daemon's UDP address from `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or the
/// `tcp:host:port udp:host:port` form (its `udp:` part).
pub fn daemon_address(value: &str) -> Option<SocketAddr> {
    let udp = value
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .unwrap_or(value.trim());
    udp.to_socket_addrs().ok()?.next()
}

/// Where the interceptor reads the current invocation's trace header.
type TraceSource = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// The interceptor: install it on each AWS client ([`XRayCalls::from_env`]).
#[derive(Clone)]
pub struct XRayCalls {
    daemon: Option<Arc<(UdpSocket, SocketAddr)>>,
    trace: TraceSource,
}

impl std::fmt::Debug for XRayCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XRayCalls")
            .field("daemon", &self.daemon.as_ref().map(|d| d.1))
            .finish_non_exhaustive()
    }
}

impl XRayCalls {
    /// As on Lambda: the daemon at `AWS_XRAY_DAEMON_ADDRESS` (none: sends nothing), the
    /// trace header of each call read from `_X_AMZN_TRACE_ID`.
    pub fn from_env() -> Self {
        let address = std::env::var(DAEMON_ADDRESS_VAR)
            .ok()
            .and_then(|v| daemon_address(&v));
        Self::new(address, Arc::new(|| std::env::var(TRACE_HEADER_VAR).ok()))
    }

    /// Sends to `daemon` (none: nothing), with the trace header `trace` gives per call.
    pub fn new(daemon: Option<SocketAddr>, trace: TraceSource) -> Self {
        let daemon = daemon.and_then(|addr| {
            let socket = UdpSocket::bind(if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            })
            .inspect_err(|err| tracing::warn!(error = %err, "X-Ray: no UDP socket; no subsegments"))
            .ok()?;
            socket.set_nonblocking(true).ok()?;
            Some(Arc::new((socket, addr)))
        });
        Self { daemon, trace }
    }

    fn send(&self, doc: &Value) {
        let Some(daemon) = &self.daemon else { return };
        let datagram = format!("{{\"format\":\"json\",\"version\":1}}\n{doc}");
        if let Err(err) = daemon.0.send_to(datagram.as_bytes(), daemon.1) {
            tracing::debug!(error = %err, "X-Ray: subsegment not sent");
        }
    }
}

/// When the call began, kept in the call's config bag.
#[derive(Debug, Clone, Copy)]
struct CallStarted(SystemTime);

impl Storable for CallStarted {
    type Storer = StoreReplace<Self>;
}

/// A new subsegment id: 16 hex digits, random.
fn new_id() -> String {
    let random = uuid::Uuid::now_v7().as_u128() as u64;
    format!("{random:016x}")
}

impl Intercept for XRayCalls {
    fn name(&self) -> &'static str {
        "XRayCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.daemon.is_some() {
            cfg.interceptor_state()
                .store_put(CallStarted(SystemTime::now()));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.daemon.is_none() {
            return Ok(());
        }
        let Some(trace) = (self.trace)().and_then(|h| TraceContext::parse(&h)) else {
            return Ok(());
        };
        let metadata = cfg.load::<Metadata>();
        let response = context.response();
        let headers = response.map(|r| r.headers());
        let call = AwsCall {
            service: metadata.map_or("AWS", Metadata::service),
            operation: metadata.map_or("unknown", Metadata::name),
            started: cfg
                .load::<CallStarted>()
                .map_or_else(SystemTime::now, |s| s.0),
            ended: SystemTime::now(),
            status: response.map(|r| r.status().as_u16()),
            request_id: headers.and_then(|h| {
                h.get("x-amz-request-id")
                    .or_else(|| h.get("x-amzn-requestid"))
            }),
        };
        self.send(&subsegment(&trace, &call, &new_id()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    #[test]
    fn a_sampled_header_gives_the_trace_and_parent() {
        let header = format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:0");
        assert_eq!(
            TraceContext::parse(&header),
            Some(TraceContext {
                trace_id: ROOT.into(),
                parent_id: "53995c3f42cd8ad8".into()
            })
        );
        for refused in [
            format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0"),
            format!("Root={ROOT};Parent=53995c3f42cd8ad8"),
            format!("Root={ROOT};Sampled=1"),
            "Root=1-00;Parent=53995c3f42cd8ad8;Sampled=1".into(),
            format!("Root={ROOT};Parent=not-hex-at-all!;Sampled=1"),
            String::new(),
        ] {
            assert_eq!(TraceContext::parse(&refused), None, "{refused}");
        }
    }

    #[test]
    fn a_subsegment_names_the_call_and_flags_its_outcome() {
        let trace = TraceContext {
            trace_id: ROOT.into(),
            parent_id: "53995c3f42cd8ad8".into(),
        };
        let started = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        let call = |status| AwsCall {
            service: "DynamoDB",
            operation: "GetItem",
            started,
            ended: started + Duration::from_millis(12),
            status,
            request_id: Some("RID"),
        };
        let ok = subsegment(&trace, &call(Some(200)), "0123456789abcdef");
        assert_eq!(
            ok,
            json!({
                "name": "DynamoDB", "id": "0123456789abcdef", "trace_id": ROOT,
                "parent_id": "53995c3f42cd8ad8", "start_time": 1_700_000_000.25,
                "end_time": 1_700_000_000.262, "type": "subsegment", "namespace": "aws",
                "aws": {"operation": "GetItem", "request_id": "RID"},
                "http": {"response": {"status": 200}},
            })
        );
        let flags = |status| {
            let doc = subsegment(&trace, &call(status), "0123456789abcdef");
            ["error", "throttle", "fault"].map(|f| doc.get(f).is_some())
        };
        assert_eq!(flags(Some(400)), [true, false, false]);
        assert_eq!(flags(Some(429)), [true, true, false]);
        assert_eq!(flags(Some(503)), [false, false, true]);
        assert_eq!(flags(None), [false, false, true]);
    }

    #[test]
    fn the_daemon_address_takes_both_forms() {
        let want: SocketAddr = "169.254.79.129:2000".parse().unwrap();
        assert_eq!(daemon_address("169.254.79.129:2000"), Some(want));
        assert_eq!(
            daemon_address("tcp:127.0.0.1:2001 udp:169.254.79.129:2000"),
            Some(want)
        );
        assert_eq!(daemon_address("nonsense"), None);
    }

    #[test]
    fn ids_are_16_hex_digits_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert!(
            a.len() == 16 && a.bytes().all(|c| c.is_ascii_hexdigit()),
            "{a}"
        );
        assert_ne!(a, b);
    }
}
