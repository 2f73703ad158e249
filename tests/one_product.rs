//! `template.yaml` and the local stack are one product: the routes `up` serves, its CORS
//! rules, the table it creates and the environment it gives each function are checked
//! against the template, through what the running stack answers; and each route's code is
//! one hop from the template (`functions/<crate>/src/<event>.rs`).

use std::collections::BTreeSet;

use integration_tests::running::Running;
use private_uploads::local::stack::{
    BUCKET, CREDENTIALS_ROLE_ARN, EnvList, OWNERSHIP_FUNCTION, SECRET, TABLE, UPLOAD_FUNCTION,
    VIEW_FUNCTION,
};
use private_uploads::local::template::{EnvValue, Template};
use serde_json::json;
use shared::config::{Env, Recording};

/// `PostUploads` → `post_uploads`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// An environment with one variable set otherwise.
struct Override<'a>(&'a dyn Env, &'a str, String);

impl Env for Override<'_> {
    fn get(&self, name: &str) -> Option<String> {
        if name == self.1 {
            Some(self.2.clone())
        } else {
            self.0.get(name)
        }
    }
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_stack_serves_what_the_template_deploys() {
    let template = Template::load().unwrap();
    let run = Running::start().await;
    let missing = shared::domain::ids::FileId::generate().to_string();
    let alice = run.token("alice");

    // Routes: exactly the template's, each reaching its function behind the authorizer.
    let declared: BTreeSet<(String, String)> = template
        .routes
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let served: BTreeSet<(String, String)> = run.stack.routes.iter().cloned().collect();
    assert_eq!(served, declared);
    assert_eq!(declared.len(), 13, "{declared:?}");
    for route in &template.routes {
        let path = route.path.replace("{file_id}", &missing);
        let (status, body) = run.json(&route.method, &path, None, None).await;
        assert_eq!(
            (status, body),
            (401, json!({"message": "Unauthorized"})),
            "{} {path}",
            route.method
        );
        let (status, body) = run.json(&route.method, &path, Some(&alice), None).await;
        assert!(
            body.get("error").is_some() || (200..300).contains(&status),
            "{} {path} did not reach a function: {status} {body}",
            route.method
        );
        let module = format!(
            "{}/../{}/src/{}.rs",
            env!("CARGO_MANIFEST_DIR"),
            template.function(&route.function).unwrap().code_uri,
            snake(&route.event)
        );
        assert!(
            std::path::Path::new(&module).is_file(),
            "{} {}: its code belongs in {module}",
            route.method,
            route.path
        );
    }
    for (method, path) in [
        ("PUT", "/uploads"),
        ("GET", "/uploads/abc"),
        ("POST", "/files"),
        ("GET", "/files/a/b"),
        ("GET", "/files/"),
    ] {
        assert_eq!(
            run.json(method, path, Some(&alice), None).await,
            (404, json!({"message": "Not Found"})),
            "{method} {path}"
        );
    }

    // The HTTP API's CORS rule.
    let origin = run.stack.page_origins[0].clone();
    let rule = &template.api_cors;
    let preflight = |origin: &str, method: &str, headers: &str| {
        run.http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/uploads", run.stack.api_url),
            )
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
    };
    let answer = preflight(&origin, "POST", "authorization,content-type")
        .await
        .unwrap();
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        Some(origin.as_str())
    );
    assert_eq!(
        header(&answer, "access-control-allow-methods"),
        Some(rule.methods.join(",").as_str())
    );
    assert_eq!(
        header(&answer, "access-control-allow-headers"),
        Some(rule.headers.join(",").as_str())
    );
    assert_eq!(
        header(&answer, "access-control-max-age"),
        Some(rule.max_age.to_string().as_str())
    );
    for (origin, method, headers) in [
        ("https://evil.example", "POST", "authorization"),
        (origin.as_str(), "PATCH", "authorization"),
        (origin.as_str(), "POST", "x-not-allowed"),
    ] {
        let answer = preflight(origin, method, headers).await.unwrap();
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            None,
            "{origin} {method} {headers}"
        );
    }
    let listed = run
        .http
        .get(format!("{}/files", run.stack.api_url))
        .bearer_auth(&alice)
        .header("origin", &origin)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(
        header(&listed, "access-control-allow-origin"),
        Some(origin.as_str())
    );

    // The bucket's CORS rule.
    let rule = &template.bucket_cors;
    let s3_preflight = |origin: &str, method: &str, headers: &str| {
        run.http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/{BUCKET}/users/alice/x", run.stack.s3_endpoint),
            )
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
    };
    let headers = rule.headers.join(",");
    for method in &rule.methods {
        let answer = s3_preflight(&origin, method, &headers).await.unwrap();
        assert_eq!(answer.status(), 200, "{method}");
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            Some(origin.as_str())
        );
        assert_eq!(
            header(&answer, "access-control-allow-methods"),
            Some(rule.methods.join(", ").as_str())
        );
        assert_eq!(
            header(&answer, "access-control-max-age"),
            Some(rule.max_age.to_string().as_str())
        );
    }
    for (origin, method, headers) in [
        ("https://evil.example", "PUT", "content-type"),
        (origin.as_str(), "PATCH", "content-type"),
        (origin.as_str(), "PUT", "x-amz-meta-smuggled"),
    ] {
        let answer = s3_preflight(origin, method, headers).await.unwrap();
        assert_eq!(answer.status(), 403, "{origin} {method} {headers}");
    }
    let issued = run
        .json(
            "POST",
            "/uploads",
            Some(&alice),
            Some(json!({"filename": "a.txt", "content_type": "text/plain", "size": 2})),
        )
        .await
        .1;
    let mut put = run
        .http
        .put(issued["upload"]["url"].as_str().unwrap())
        .header("origin", &origin)
        .body("hi");
    for (name, value) in issued["upload"]["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let put = put.send().await.unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(
        header(&put, "access-control-expose-headers"),
        Some(rule.expose_headers.join(", ").as_str())
    );
    assert!(
        rule.expose_headers.iter().any(|h| h == "ETag"),
        "uploads settle only when the page can read the ETag"
    );

    // The table: the template's keys and TTL attribute, as created, and as the adapter uses.
    let dynamodb = aws_sdk_dynamodb::Client::new(&run.stack.backend.aws);
    let table = dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    let schema: BTreeSet<(String, String)> = table
        .table()
        .unwrap()
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    let spec = &template.table;
    assert_eq!(
        schema,
        BTreeSet::from([
            (spec.partition_key.clone(), "HASH".to_owned()),
            (spec.sort_key.clone(), "RANGE".to_owned()),
        ])
    );
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some(spec.ttl_attribute.as_str())
    );
    use shared::aws::dynamodb::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};
    assert_eq!(
        (PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE),
        (
            spec.partition_key.as_str(),
            spec.sort_key.as_str(),
            spec.ttl_attribute.as_str()
        )
    );

    // Every variable each function reads is one the template sets, or one Lambda (or the
    // SDK's endpoint override, which only the local stack uses) provides; the template sets
    // nothing unread; `up` sets what the template does, parameters at their defaults.
    let provided = BTreeSet::from([
        "AWS_REGION",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL",
    ]);
    let configure_doc = std::fs::read_to_string(format!(
        "{}/../docs/operations.md",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for id in [UPLOAD_FUNCTION, VIEW_FUNCTION, OWNERSHIP_FUNCTION] {
        let spec = template.function(id).unwrap();
        let local = EnvList(run.stack.backend.environments[id].clone());
        let recording = Recording::new(&local);
        let read = match id {
            UPLOAD_FUNCTION => issue_upload_url::Config::from_env(&recording).map(drop),
            VIEW_FUNCTION => issue_view_url::Config::from_env(&recording).map(drop),
            _ => record_ownership::Config::from_env(&recording).map(drop),
        };
        read.unwrap_or_else(|e| panic!("{id}: {e}"));
        let read = recording.asked();
        // What CloudFormation lets a deployment set, the function accepts, and nothing more:
        // each bound of a number parameter is accepted, one past it refused.
        for (name, value) in &spec.environment {
            let EnvValue::Parameter {
                name: parameter,
                min,
                max,
                ..
            } = value
            else {
                continue;
            };
            let bounds = [(min, -1i128), (max, 1)];
            for (bound, past) in bounds {
                let Some(bound) = bound else { continue };
                let bound: i128 = bound.parse().unwrap();
                for (set, accepted) in [(bound, true), (bound + past, false)] {
                    let env = Override(&local, name, set.to_string());
                    let result = match id {
                        UPLOAD_FUNCTION => issue_upload_url::Config::from_env(&env).map(drop),
                        VIEW_FUNCTION => issue_view_url::Config::from_env(&env).map(drop),
                        _ => record_ownership::Config::from_env(&env).map(drop),
                    };
                    assert_eq!(
                        result.is_ok(),
                        accepted,
                        "{id}: {name}={set} ({parameter}'s bound is {bound}): {result:?}"
                    );
                }
            }
        }
        let declared: BTreeSet<String> = spec.environment.keys().cloned().collect();
        let unset: Vec<&String> = read
            .iter()
            .filter(|name| !declared.contains(*name) && !provided.contains(name.as_str()))
            .collect();
        assert!(
            unset.is_empty(),
            "{id} reads {unset:?}, which the template does not set"
        );
        let unread: Vec<&String> = declared.difference(&read).collect();
        assert!(
            unread.is_empty(),
            "the template sets {unread:?} for {id}, which it never reads"
        );
        let set: BTreeSet<String> = local.0.iter().map(|(k, _)| k.clone()).collect();
        let expected: BTreeSet<String> = declared
            .iter()
            .cloned()
            .chain(["AWS_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS"].map(String::from))
            .collect();
        assert_eq!(set, expected, "{id}: what up sets");
        for (name, value) in &spec.environment {
            match value {
                EnvValue::Literal(v) | EnvValue::Parameter { default: v, .. } => {
                    assert_eq!(local.get(name).as_deref(), Some(v.as_str()), "{id}: {name}");
                }
                EnvValue::Resource(_) => {
                    let stand_in = match name.as_str() {
                        "BUCKET_NAME" => BUCKET.to_owned(),
                        "TABLE_NAME" => TABLE.to_owned(),
                        "JWT_ISSUER" => private_uploads::local::stack::JWT_ISSUER.to_owned(),
                        "SIGNING_KEY_SECRET_ID" => SECRET.to_owned(),
                        "CDN_BASE_URL" => run.stack.cdn_url.clone(),
                        "CREDENTIALS_ROLE_ARN" => CREDENTIALS_ROLE_ARN.to_owned(),
                        // The key slots as the template fills them: the dev key in the first.
                        "TRUSTED_KEY_1" => format!(
                            "{} {}",
                            private_uploads::local::stack::KEY_PAIR_ID,
                            run.stack.backend.cloudfront_key.public_pem
                        ),
                        "TRUSTED_KEY_2" => String::new(),
                        other => {
                            panic!("{id}: {other} comes from a resource with no local stand-in")
                        }
                    };
                    assert_eq!(local.get(name), Some(stand_in), "{id}: {name}");
                }
            }
            assert!(
                configure_doc.contains(&format!("`{name}`")),
                "docs/operations.md's Configure table does not mention {name}"
            );
        }
    }
    run.stop().await;
}
