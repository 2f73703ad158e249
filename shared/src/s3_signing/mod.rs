//! S3 presigned requests (PUTs and multipart parts) and browser POST forms, signed with
//! aws-sigv4's primitives, and the credentials they are signed with.

pub mod post_policy;
pub mod presign;

pub use post_policy::{PresignedPost, presign_post};
pub use presign::{
    BucketLocation, MAX_PRESIGN_SECONDS, PresignError, PresignedRequest, S3Endpoint, SignedUrl,
    SigningCredentials, presign, presign_part, presign_put,
};
