//! The local stack behind `private-uploads up`, and the pieces the integration tests start:
//! a verifying S3, moto for DynamoDB / Secrets Manager / STS, and the stack's resources.

pub mod moto;
pub mod resources;
pub mod s3;
