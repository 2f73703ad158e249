//! What a browser does with what the API issued, outside the API: POST a form to S3, use
//! temporary credentials with the AWS SDK.

use aws_credential_types::Credentials;
use serde_json::Value;

use crate::running::Running;

/// A `multipart/form-data` body: the fields in order, then the file, as a browser sends a
/// form.
pub fn form_body(fields: &[(String, String)], file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----private-uploads-test-boundary".to_owned();
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .bytes(),
        );
    }
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\nContent-Type: application/octet-stream\r\n\r\n").bytes(),
    );
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub fn fields_of(issued: &Value) -> Vec<(String, String)> {
    issued["upload"]["fields"]
        .as_object()
        .expect("fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
        .collect()
}

/// POST a form to S3: status, headers, body.
pub async fn post_form(
    run: &Running,
    url: &str,
    fields: &[(String, String)],
    file: &[u8],
) -> (u16, http::HeaderMap, String) {
    let (content_type, body) = form_body(fields, file);
    let response = run
        .http
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("S3 answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap_or_default())
}

/// An S3 client with the credentials `POST /credentials` gave.
pub fn client_of(issued: &Value) -> aws_sdk_s3::Client {
    let credentials = Credentials::new(
        issued["access_key_id"].as_str().unwrap(),
        issued["secret_access_key"].as_str().unwrap(),
        issued["session_token"].as_str().map(str::to_owned),
        None,
        "browser",
    );
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(
            issued["region"].as_str().unwrap().to_owned(),
        ))
        .credentials_provider(credentials)
        .endpoint_url(issued["endpoint"].as_str().unwrap())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The error code S3 answered a request with ("succeeded" when it did not refuse).
pub fn code_of<T, E: aws_sdk_s3::error::ProvideErrorMetadata>(
    result: Result<T, aws_sdk_s3::error::SdkError<E>>,
) -> String {
    match result {
        Ok(_) => "succeeded".to_owned(),
        Err(e) => aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
            .unwrap_or("no code")
            .to_owned(),
    }
}
