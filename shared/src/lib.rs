//! The library every private-uploads function uses, in rooms that show its layers:
//!
//! - [`domain`]: the business rules: ids and newtypes, upload rules, the file record and its
//!   lifecycle, ownership decisions, sequencers, view-URL rules. Pure: no AWS SDK, no
//!   `lambda_http`, no tokio.
//! - [`ports`]: the narrow traits for the table (a ledger), the bucket and the secret, their
//!   one error type, and in-memory implementations for tests.
//! - [`config`]: reading the environment at start (the domain's rules' settings included).
//! - [`pyjson`]: JSON text as Python writes it, which both signing engines sign.
//!
//! These four are all that builds with `--no-default-features`.
//! - [`s3_signing`] (feature `s3-signing`) and [`cloudfront`] (feature `cloudfront`): the
//!   signing engines for upload and view URLs.
//! - [`aws`]: one adapter per AWS service, each behind the feature named after it
//!   (`dynamodb`, `s3`, `secretsmanager`), implementing the ports.
//! - [`http`] (feature `http`): the API's edge: requests, the error contract, responses.
//! - [`logging`] (feature `logging`): the one log set-up of the functions and of `up`.
//! - [`metrics`] (feature `metrics`): the functions' CloudWatch metrics, as EMF log lines.
//!
//! Imports only point down this list (`tests/layout.rs` checks it): the domain imports
//! nothing of the crate's own but itself; nothing imports the HTTP edge or the adapters.

pub mod domain;
pub mod ports;

pub mod config;
pub mod pyjson;

#[cfg(feature = "cloudfront")]
pub mod cloudfront;
#[cfg(feature = "s3-signing")]
pub mod s3_signing;

#[cfg(feature = "aws")]
pub mod aws;

#[cfg(feature = "http")]
pub mod http;

#[cfg(feature = "logging")]
pub mod logging;

#[cfg(feature = "metrics")]
pub mod metrics;
