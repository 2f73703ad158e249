//! The pure domain, business rules only: ids and newtypes, upload rules (and multipart
//! parts), the file record and its lifecycle (with the quota), ownership decisions, event
//! sequencers, counts, the session policy, active content, view-URL rules, and time as the
//! API shows it. Reading the environment is [`crate::config`]'s; the wire types of request
//! bodies are the routes'.
//!
//! Nothing here talks to AWS or HTTP: no AWS SDK, no `lambda_http`, no tokio
//! (`cargo check -p shared --no-default-features` builds this alone, and
//! `shared/tests/layout.rs` checks the imports).

pub mod active_content;
pub mod counters;
pub mod credentials;
pub mod ids;
pub mod lifecycle;
pub mod ownership;
pub mod parts;
pub mod record;
pub mod sequencer;
pub mod sniff;
pub mod time;
pub mod upload;
pub mod view;
