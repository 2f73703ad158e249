//! S3 presigned requests, signed with aws-sigv4's primitives, and the credentials they are
//! signed with.

pub mod credentials;
pub mod presign;

pub use credentials::SigningCredentials;
pub use presign::{
    BucketLocation, MAX_PRESIGN_SECONDS, PresignError, PresignedRequest, S3Endpoint, SignedUrl,
    presign, presign_put,
};
