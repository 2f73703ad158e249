//! AWS adapters: one module per service, each behind the cargo feature named after it, so a
//! function links only the SDKs it calls. Each implements a port of [`crate::ports`], and
//! each client sends an X-Ray subsegment per call ([`xray`]).

pub mod errors;
pub mod sdk;
pub mod xray;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "secretsmanager")]
pub mod secretsmanager;
#[cfg(feature = "sts")]
pub mod sts;

pub use errors::{error_summary, is_transient, store_error};
pub use sdk::{SdkConfig, StartError, load_config, timeouts};
