//! The local stack: one file per AWS stand-in, and the wiring that runs them as one product.
//!
//! | file | stands in for |
//! | --- | --- |
//! | `api_gateway.rs` | the HTTP API: routes and CORS from the template, events to the functions |
//! | `authorizer.rs` | the HTTP API's JWT authorizer |
//! | `dev_pages.rs` | the page, the OpenAPI document and the `/local/*` helpers beside the API |
//! | `idp.rs` | the identity provider (Cognito): dev users' tokens |
//! | `s3.rs` | the bucket: SigV4-checking S3 on loopback, its CORS rule |
//! | `s3_bucket.rs` | the bucket's state over s3s-fs: literal keys, archive classes, ObjectCreated events |
//! | `s3_api.rs` | the S3 operations, as S3 answers them |
//! | `s3_multipart.rs` | the bucket's multipart uploads, where s3s-fs does less than S3 |
//! | `sts.rs` | STS AssumeRole, and its credentials held to their policies in the bucket |
//! | `iam.rs` | the IAM policy evaluation that the bucket applies to those credentials |
//! | `cdn.rs` | the CloudFront distribution: signed URLs and cookies, its headers, the API path |
//! | `moto.rs` | DynamoDB, Secrets Manager, STS (moto server), the table and the secret |
//! | `faults.rs` | the services failing: errors, throttling, outages and delays on demand |
//! | `template.rs` | reads `template.yaml`, so the stand-ins serve what the stack deploys |
//! | `stack.rs` | starts them all and wires the three functions to them |
//! | `async_invoke.rs` | Lambda's asynchronous invocation of record-ownership: retries, the failure file |
//! | `deployed.rs` | a function as deployed, replaced by a redeploy |
//! | `server.rs` | the HTTP server loop they share |

pub mod api_gateway;
pub mod async_invoke;
pub mod authorizer;
pub mod cdn;
pub mod deployed;
pub mod dev_pages;
pub mod faults;
pub mod iam;
pub mod idp;
pub mod moto;
pub mod s3;
mod s3_api;
mod s3_bucket;
pub mod s3_multipart;
pub mod server;
pub mod stack;
pub mod sts;
pub mod template;
