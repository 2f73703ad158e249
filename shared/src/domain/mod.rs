//! The pure domain: ids and newtypes, upload rules, the file record and its lifecycle,
//! ownership decisions, S3 event keys and sequencers, view-URL rules, time and
//! configuration parsing.
//!
//! Nothing here talks to AWS or HTTP: no AWS SDK, no `lambda_http`, no tokio
//! (`cargo check -p shared --no-default-features` builds this alone, and
//! `shared/tests/layout.rs` checks the imports).

pub mod active_content;
pub mod config;
pub mod counters;
pub mod credentials;
pub mod ids;
pub mod lifecycle;
pub mod ownership;
pub mod pyjson;
pub mod quota;
pub mod record;
pub mod s3_event;
pub mod sequencer;
pub mod sniff;
pub mod time;
pub mod upload;
pub mod view;
