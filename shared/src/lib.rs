//! The library every private-uploads function uses: domain types and rules (pure, tested
//! without AWS), the signing engines, and the small AWS adapters behind narrow traits.

pub mod api;
pub mod aws;
pub mod cloudfront;
pub mod config;
pub mod cursor;
pub mod dynamo;
pub mod ids;
pub mod objects;
pub mod ownership;
pub mod presign;
pub mod records;
pub mod s3_event;
pub mod sequencer;
pub mod signing_keys;
pub mod time;
pub mod upload;
pub mod view;
