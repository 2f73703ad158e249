//! The local stack behind `private-uploads up`, and the pieces the integration tests start:
//! a verifying S3, moto for DynamoDB / Secrets Manager / STS, the stack's resources, the
//! HTTP API and CloudFront stand-ins, and the key and token tools.

pub mod api;
pub mod cdn;
pub mod commands;
pub mod http;
pub mod jwt;
pub mod keys;
pub mod moto;
pub mod resources;
pub mod s3;
pub mod stack;
