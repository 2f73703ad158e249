//! `template.yaml`, read by the local stack so that it serves what the stack deploys: the
//! HTTP API's routes and CORS rule, the bucket's CORS rule, the table's keys and TTL, and
//! each function's environment (parameters at their defaults, resources at their local
//! stand-ins).

use anyhow::{Context as _, anyhow};
use std::collections::BTreeMap;

use serde_norway::Value;

/// The template, compiled in: `up` needs no checkout to run.
pub const TEMPLATE_YAML: &str = include_str!("../../../template.yaml");

/// One route of the HTTP API: an `HttpApi` event of a function.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteSpec {
    pub method: String,
    /// `/files/{file_id}` style.
    pub path: String,
    /// The function's logical id, e.g. `IssueViewUrlFunction`.
    pub function: String,
    /// The event's name, e.g. `GetFile`.
    pub event: String,
}

/// A CORS rule with its origins still symbolic (`!Ref AppOrigin` is the page's origin).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorsRule {
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: u64,
    /// `Access-Control-Allow-Credentials: true` (the HTTP API's `AllowCredentials`).
    pub allow_credentials: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    pub partition_key: String,
    pub sort_key: String,
    pub ttl_attribute: String,
}

/// A function's environment: each variable and the template's value for it.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    /// `functions/<crate>`.
    pub code_uri: String,
    pub environment: BTreeMap<String, EnvValue>,
}

/// What the template sets a variable to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    /// A literal.
    Literal(String),
    /// `!Ref Parameter`: the parameter, with its default and, for a number, the bounds
    /// CloudFormation holds a deployment to (`MinValue`, `MaxValue`).
    Parameter {
        name: String,
        default: String,
        min: Option<String>,
        max: Option<String>,
    },
    /// `!Ref Resource`, `!Sub …`, `!GetAtt …`: something only a deployment knows.
    Resource(String),
}

#[derive(Clone, Debug)]
pub struct Template {
    pub routes: Vec<RouteSpec>,
    pub api_cors: CorsRule,
    pub bucket_cors: CorsRule,
    pub table: TableSpec,
    /// By logical id.
    pub functions: BTreeMap<String, FunctionSpec>,
    /// The IAM roles' inline policies, by logical id (the YAML as written, tags and all).
    pub role_policies: BTreeMap<String, Vec<Value>>,
    /// The headers the distribution's response-headers policy adds to every response.
    pub cdn_headers: Vec<(String, String)>,
    /// The code of the distribution's viewer-response function (CloudFront Functions JS).
    pub cdn_viewer_response: String,
    /// The path patterns the distribution sends to the HTTP API (its `api` origin) rather than
    /// to the bucket: the gallery cookies' route.
    pub cdn_api_paths: Vec<String>,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| items.iter().filter_map(text).collect())
        .unwrap_or_default()
}

fn cors(rule: &Value, methods: &str, headers: &str, expose: &str, max_age: &str) -> CorsRule {
    CorsRule {
        methods: strings(&rule[methods]),
        headers: strings(&rule[headers]),
        expose_headers: strings(&rule[expose]),
        max_age: rule[max_age].as_u64().unwrap_or(0),
        allow_credentials: rule["AllowCredentials"].as_bool() == Some(true),
    }
}

/// The parts of `template.yaml` the local stack reads.
struct Doc<'a> {
    resources: &'a serde_norway::Mapping,
    parameters: &'a Value,
}

/// What the distribution adds: its security headers, its viewer-response function, and the
/// paths it sends to the API.
struct Distribution {
    headers: Vec<(String, String)>,
    viewer_response: String,
    api_paths: Vec<String>,
}

impl<'a> Doc<'a> {
    fn of_type(&self, kind: &'static str) -> impl Iterator<Item = (String, &'a Value)> + 'a {
        self.resources
            .iter()
            .filter(move |(_, r)| r["Type"].as_str() == Some(kind))
            .filter_map(|(id, r)| Some((id.as_str()?.to_owned(), r)))
    }

    /// The template's one resource of `kind`.
    fn one(&self, kind: &'static str) -> anyhow::Result<&'a Value> {
        self.of_type(kind)
            .next()
            .map(|(_, resource)| resource)
            .ok_or_else(|| anyhow!("template.yaml has no {kind}"))
    }

    /// The functions' HTTP API routes (sorted) and environments.
    fn functions(&self) -> anyhow::Result<(Vec<RouteSpec>, BTreeMap<String, FunctionSpec>)> {
        let mut routes = Vec::new();
        let mut functions = BTreeMap::new();
        for (id, function) in self.of_type("AWS::Serverless::Function") {
            let properties = &function["Properties"];
            for (name, event) in properties["Events"].as_mapping().into_iter().flatten() {
                if event["Type"].as_str() != Some("HttpApi") {
                    continue;
                }
                routes.push(RouteSpec {
                    method: text(&event["Properties"]["Method"])
                        .ok_or_else(|| anyhow!("{id}: an HttpApi event without Method"))?
                        .to_ascii_uppercase(),
                    path: text(&event["Properties"]["Path"])
                        .ok_or_else(|| anyhow!("{id}: an HttpApi event without Path"))?,
                    function: id.clone(),
                    event: name.as_str().unwrap_or_default().to_owned(),
                });
            }
            let mut environment = BTreeMap::new();
            let variables = properties["Environment"]["Variables"].as_mapping();
            for (name, value) in variables.into_iter().flatten() {
                let name = name.as_str().unwrap_or_default().to_owned();
                let value = self.env_value(value).ok_or_else(|| {
                    anyhow!("{id}: variable {name} is neither a value nor a reference")
                })?;
                environment.insert(name, value);
            }
            let code_uri = text(&properties["CodeUri"]).unwrap_or_default();
            functions.insert(
                id.clone(),
                FunctionSpec {
                    code_uri,
                    environment,
                },
            );
        }
        routes.sort();
        Ok((routes, functions))
    }

    /// What a variable is set to: a literal, a parameter (with its default and bounds), or
    /// something only a deployment knows.
    fn env_value(&self, value: &Value) -> Option<EnvValue> {
        Some(match value {
            Value::Tagged(tagged) if tagged.tag == "Ref" => {
                let target = text(&tagged.value).unwrap_or_default();
                let parameter = &self.parameters[target.as_str()];
                match text(&parameter["Default"]) {
                    Some(default) => EnvValue::Parameter {
                        min: text(&parameter["MinValue"]),
                        max: text(&parameter["MaxValue"]),
                        name: target,
                        default,
                    },
                    None => EnvValue::Resource(target),
                }
            }
            Value::Tagged(tagged) => EnvValue::Resource(format!("{}", tagged.tag)),
            other => EnvValue::Literal(text(other)?),
        })
    }

    /// The logical id a `!Ref` or `!GetAtt` names.
    fn resource(&self, value: &Value, what: &str) -> anyhow::Result<&'a Value> {
        let Value::Tagged(tagged) = value else {
            return Err(anyhow!("the distribution's {what} is not a reference"));
        };
        let target = text(&tagged.value).unwrap_or_default();
        let id = target.split('.').next().unwrap_or_default();
        self.resources
            .get(id)
            .ok_or_else(|| anyhow!("no resource {id}"))
    }

    fn distribution(&self) -> anyhow::Result<Distribution> {
        let config =
            &self.one("AWS::CloudFront::Distribution")?["Properties"]["DistributionConfig"];
        let behavior = &config["DefaultCacheBehavior"];
        // Under `!If [HasApiDomain, [...], AWS::NoValue]`: the local stack is a deploy with
        // the custom domains the gallery cookies need, so it takes the first branch.
        let behaviours = match &config["CacheBehaviors"] {
            Value::Tagged(tagged) if tagged.tag == "If" => tagged.value[1].clone(),
            other => other.clone(),
        };
        let api_paths = behaviours
            .as_sequence()
            .into_iter()
            .flatten()
            .filter(|b| b["TargetOriginId"].as_str() == Some("api"))
            .filter_map(|b| text(&b["PathPattern"]))
            .collect();
        let policy = self.resource(
            &behavior["ResponseHeadersPolicyId"],
            "ResponseHeadersPolicyId",
        )?;
        let viewer_response = behavior["FunctionAssociations"]
            .as_sequence()
            .and_then(|all| {
                all.iter()
                    .find(|f| f["EventType"].as_str() == Some("viewer-response"))
            })
            .context("the distribution has no viewer-response function")?;
        let function =
            self.resource(&viewer_response["FunctionARN"], "viewer-response function")?;
        Ok(Distribution {
            headers: security_headers(
                &policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"],
            ),
            viewer_response: text(&function["Properties"]["FunctionCode"])
                .context("no FunctionCode in the viewer-response function")?,
            api_paths,
        })
    }
}

/// The headers a response-headers policy's `SecurityHeadersConfig` adds.
fn security_headers(security: &Value) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if security["ContentTypeOptions"].is_mapping() {
        headers.push(("x-content-type-options".to_owned(), "nosniff".to_owned()));
    }
    if let Some(csp) = text(&security["ContentSecurityPolicy"]["ContentSecurityPolicy"]) {
        headers.push(("content-security-policy".to_owned(), csp));
    }
    let hsts = &security["StrictTransportSecurity"];
    if let Some(age) = text(&hsts["AccessControlMaxAgeSec"]) {
        let mut value = format!("max-age={age}");
        if hsts["IncludeSubdomains"].as_bool() == Some(true) {
            value.push_str("; includeSubDomains");
        }
        if hsts["Preload"].as_bool() == Some(true) {
            value.push_str("; preload");
        }
        headers.push(("strict-transport-security".to_owned(), value));
    }
    if let Some(referrer) = text(&security["ReferrerPolicy"]["ReferrerPolicy"]) {
        headers.push(("referrer-policy".to_owned(), referrer));
    }
    headers
}

fn table_spec(table: &Value) -> anyhow::Result<TableSpec> {
    let key = |kind: &str| {
        table["Properties"]["KeySchema"]
            .as_sequence()
            .and_then(|keys| keys.iter().find(|k| k["KeyType"].as_str() == Some(kind)))
            .and_then(|k| text(&k["AttributeName"]))
            .ok_or_else(|| anyhow!("the table has no {kind} key"))
    };
    Ok(TableSpec {
        partition_key: key("HASH")?,
        sort_key: key("RANGE")?,
        ttl_attribute: text(&table["Properties"]["TimeToLiveSpecification"]["AttributeName"])
            .context("the table has no TTL attribute")?,
    })
}

impl Template {
    /// The compiled-in template.
    pub fn load() -> anyhow::Result<Self> {
        Self::parse(TEMPLATE_YAML)
    }

    pub fn parse(yaml: &str) -> anyhow::Result<Self> {
        let doc: Value = serde_norway::from_str(yaml).map_err(|e| anyhow!("template.yaml: {e}"))?;
        let doc = Doc {
            resources: doc["Resources"]
                .as_mapping()
                .context("template.yaml has no Resources")?,
            parameters: &doc["Parameters"],
        };
        let (routes, functions) = doc.functions()?;
        let api = doc.one("AWS::Serverless::HttpApi")?;
        let api_cors = cors(
            &api["Properties"]["CorsConfiguration"],
            "AllowMethods",
            "AllowHeaders",
            "ExposeHeaders",
            "MaxAge",
        );
        let bucket = doc.one("AWS::S3::Bucket")?;
        let bucket_cors = cors(
            &bucket["Properties"]["CorsConfiguration"]["CorsRules"][0],
            "AllowedMethods",
            "AllowedHeaders",
            "ExposedHeaders",
            "MaxAge",
        );
        let role_policies = doc
            .of_type("AWS::IAM::Role")
            .map(|(id, role)| {
                let documents = role["Properties"]["Policies"]
                    .as_sequence()
                    .map(|p| p.iter().map(|p| p["PolicyDocument"].clone()).collect())
                    .unwrap_or_default();
                (id, documents)
            })
            .collect();
        let cdn = doc.distribution()?;
        Ok(Self {
            routes,
            api_cors,
            bucket_cors,
            table: table_spec(doc.one("AWS::DynamoDB::Table")?)?,
            functions,
            role_policies,
            cdn_headers: cdn.headers,
            cdn_viewer_response: cdn.viewer_response,
            cdn_api_paths: cdn.api_paths,
        })
    }

    pub fn function(&self, id: &str) -> anyhow::Result<&FunctionSpec> {
        self.functions
            .get(id)
            .ok_or_else(|| anyhow!("template.yaml has no function {id}"))
    }

    /// A role's inline policies as IAM JSON, each `!Sub` resolved from `names` (e.g.
    /// `FilesBucket.Arn`); a reference the caller cannot resolve is an error, not a guess.
    pub fn role_policies(
        &self,
        role: &str,
        names: &BTreeMap<&str, String>,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let documents = self
            .role_policies
            .get(role)
            .ok_or_else(|| anyhow!("template.yaml has no role {role}"))?;
        if documents.is_empty() {
            return Err(anyhow!("role {role} has no inline policy"));
        }
        documents.iter().map(|d| resolve(d, names)).collect()
    }
}

/// YAML to JSON, with `!Sub "…${Name}…"` substituted from `names`.
fn resolve(value: &Value, names: &BTreeMap<&str, String>) -> anyhow::Result<serde_json::Value> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => serde_json::Value::String(n.to_string()),
        Value::String(s) => s.clone().into(),
        Value::Sequence(items) => items
            .iter()
            .map(|i| resolve(i, names))
            .collect::<Result<Vec<_>, _>>()?
            .into(),
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| Ok((text(k).unwrap_or_default(), resolve(v, names)?)))
            .collect::<anyhow::Result<serde_json::Map<_, _>>>()?
            .into(),
        Value::Tagged(tagged) if tagged.tag == "Sub" => {
            let mut out = text(&tagged.value).context("a !Sub that is not a string")?;
            while let Some(start) = out.find("${") {
                let end = out[start..]
                    .find('}')
                    .map(|e| start + e)
                    .ok_or_else(|| anyhow!("an unclosed ${{ in {out:?}"))?;
                let name = &out[start + 2..end];
                let value = names
                    .get(name)
                    .ok_or_else(|| anyhow!("no local value for ${{{name}}}"))?;
                out.replace_range(start..=end, value);
            }
            out.into()
        }
        Value::Tagged(tagged) => return Err(anyhow!("cannot resolve !{} locally", tagged.tag)),
    })
}

impl FunctionSpec {
    /// The environment the local stack gives the function: literals and parameter defaults
    /// as the template has them, deployment-only values from `locals` (by variable name).
    pub fn local_environment(
        &self,
        locals: &BTreeMap<&str, String>,
    ) -> anyhow::Result<Vec<(String, String)>> {
        self.environment
            .iter()
            .map(|(name, value)| {
                let local = match value {
                    EnvValue::Literal(v) | EnvValue::Parameter { default: v, .. } => v.clone(),
                    EnvValue::Resource(what) => {
                        locals.get(name.as_str()).cloned().ok_or_else(|| {
                            anyhow!("no local value for {name} (the template sets it from {what})")
                        })?
                    }
                };
                Ok((name.clone(), local))
            })
            .collect()
    }

    /// The variables a stack parameter sets: what `up` lets its own environment override.
    pub fn tunable(&self) -> impl Iterator<Item = &str> {
        self.environment
            .iter()
            .filter(|(_, v)| matches!(v, EnvValue::Parameter { .. }))
            .map(|(name, _)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_reads_as_the_stack_it_declares() {
        let template = Template::load().unwrap();
        let routes: Vec<(&str, &str, &str)> = template
            .routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str(), r.function.as_str()))
            .collect();
        assert!(routes.contains(&("POST", "/uploads", "IssueUploadUrlFunction")));
        assert!(routes.contains(&("GET", "/files/{file_id}/url", "IssueViewUrlFunction")));
        assert_eq!(template.table.partition_key, "owner_id");
        assert!(template.bucket_cors.methods.contains(&"PUT".to_owned()));
        assert!(
            template
                .api_cors
                .headers
                .contains(&"authorization".to_owned())
        );
        let upload = template.function("IssueUploadUrlFunction").unwrap();
        assert_eq!(upload.code_uri, "functions/issue-upload-url");
        assert!(matches!(
            upload.environment.get("ALLOWED_CONTENT_TYPES"),
            Some(EnvValue::Parameter { name, .. }) if name == "AllowedContentTypes"
        ));
        assert_eq!(
            upload.environment.get("TABLE_NAME"),
            Some(&EnvValue::Resource("FilesTable".into()))
        );
    }

    #[test]
    fn role_policies_resolve_as_the_deployment_would() {
        let template = Template::load().unwrap();
        let names = BTreeMap::from([("FilesBucket.Arn", "arn:aws:s3:::b".to_owned())]);
        let policies = template
            .role_policies("UploadCredentialsRole", &names)
            .unwrap();
        let resource = &policies[0]["Statement"][0]["Resource"];
        assert_eq!(resource, "arn:aws:s3:::b/users/*");
        let err = template
            .role_policies("UploadCredentialsRole", &BTreeMap::new())
            .unwrap_err();
        assert_eq!(err.to_string(), "no local value for ${FilesBucket.Arn}");
    }

    #[test]
    fn deployment_only_values_must_have_a_local_stand_in() {
        let template = Template::load().unwrap();
        let view = template.function("IssueViewUrlFunction").unwrap();
        let err = view.local_environment(&BTreeMap::new()).unwrap_err();
        assert!(err.to_string().starts_with("no local value for"), "{err}");
    }
}
