//! The OpenAPI document as the tests read it: the documented routes, statuses and error
//! codes, and its schemas checked by a JSON Schema 2020-12 implementation (the `jsonschema`
//! crate, OpenAPI 3.1's dialect), with `format` (`date-time`, `uri`) checked too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub struct OpenApi {
    pub doc: Value,
}

/// `(METHOD, /path/{template}, status)`; status `None` is `default`.
pub type ResponseKey = (String, String, Option<u16>);

impl OpenApi {
    pub fn load() -> Self {
        let path = format!("{}/../docs/openapi.yaml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("docs/openapi.yaml");
        Self {
            doc: serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML"),
        }
    }

    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            value = reference
                .trim_start_matches("#/")
                .split('/')
                .fold(&self.doc, |v, part| &v[part]);
        }
        value
    }

    /// Every documented response, resolved.
    pub fn responses(&self) -> BTreeMap<ResponseKey, &Value> {
        let mut out = BTreeMap::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    let status = if status == "default" {
                        None
                    } else {
                        Some(status.parse().expect("a numeric status"))
                    };
                    out.insert(
                        (method.to_uppercase(), path.clone(), status),
                        self.resolve(response),
                    );
                }
            }
        }
        out
    }

    /// The body schema of a response, if it has one.
    pub fn body_schema<'a>(&'a self, response: &'a Value) -> Option<&'a Value> {
        response
            .get("content")
            .map(|content| self.resolve(&content["application/json"]["schema"]))
    }

    /// The `error` codes a response's schema allows (its `enum` on `error`).
    pub fn error_codes(&self, response: &Value) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if let Some(schema) = self.body_schema(response) {
            self.collect_codes(schema, &mut out);
        }
        out
    }

    fn collect_codes(&self, schema: &Value, out: &mut BTreeSet<String>) {
        let schema = self.resolve(schema);
        for key in ["allOf", "oneOf", "anyOf"] {
            for part in schema[key].as_array().into_iter().flatten() {
                self.collect_codes(part, out);
            }
        }
        if let Some(codes) = schema["properties"]["error"]["enum"].as_array() {
            out.extend(codes.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }

    /// The `ErrorCode` schema's values.
    pub fn all_error_codes(&self) -> BTreeSet<String> {
        self.doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("ErrorCode enum")
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    }

    /// Whether the response documents a required `Retry-After` header.
    pub fn requires_retry_after(&self, response: &Value) -> bool {
        response["headers"]
            .get("Retry-After")
            .map(|h| self.resolve(h))
            .is_some_and(|h| h["required"] == Value::Bool(true))
    }

    /// Why `value` does not match `schema` (a schema of the document, whose `$ref`s point
    /// into its components), if it does not: every error, with where in `value` it is.
    pub fn validate(&self, schema: &Value, value: &Value) -> Result<(), String> {
        let mut root = match schema {
            Value::Object(_) => schema.clone(),
            other => serde_json::json!({ "allOf": [other] }),
        };
        root["components"] = self.doc["components"].clone();
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("the document's schema does not compile: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("${}: {e}", e.instance_path))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_validator_refuses_what_the_document_forbids() {
        let api = OpenApi::load();
        let error = &api.doc["components"]["schemas"]["Error"];
        assert!(
            api.validate(
                error,
                &json!({"error": "file_not_found", "message": "m", "request_id": "r"})
            )
            .is_ok()
        );
        for bad in [
            json!({"error": "file_not_found", "message": "m"}),
            json!({"error": "file_not_found"}),
            json!({"error": "made_up", "message": "m"}),
            json!({"error": "file_not_found", "message": "m", "owner": "bob"}),
            json!({"error": 5, "message": "m"}),
        ] {
            assert!(api.validate(error, &bad).is_err(), "{bad}");
        }
        let unauthorized = &api.doc["components"]["responses"]["Unauthorized"];
        let schema = api.body_schema(unauthorized).unwrap();
        assert!(
            api.validate(schema, &json!({"message": "Unauthorized"}))
                .is_ok()
        );
        assert!(
            api.validate(
                schema,
                &json!({"error": "unauthorized", "message": "m", "request_id": "r"})
            )
            .is_ok()
        );
        assert!(
            api.validate(
                schema,
                &json!({"error": "file_not_found", "message": "m", "request_id": "r"})
            )
            .is_err()
        );
        // What the home-made validator let through: formats, and array lengths.
        let view = &api.doc["components"]["schemas"]["ViewUrl"];
        let good =
            json!({"url": "https://d.example/a?Expires=1", "expires_at": "2026-12-06T08:00:00Z"});
        assert!(api.validate(view, &good).is_ok());
        for bad in [
            json!({"url": "https://d.example/a", "expires_at": "tomorrow"}),
            json!({"url": "not a uri", "expires_at": "2026-12-06T08:00:00Z"}),
        ] {
            assert!(api.validate(view, &bad).is_err(), "{bad}");
        }
        let parts = &api.doc["components"]["schemas"]["UploadParts"];
        let page = |n: usize| {
            json!({"upload_id": "u", "part_size": 5, "part_count": n, "uploaded": [],
                   "parts": (1..=n).map(|i| json!({"part_number": i, "url": "https://s3.example/p"})).collect::<Vec<_>>()})
        };
        assert!(
            api.validate(parts, &page(100)).is_ok(),
            "{:?}",
            api.validate(parts, &page(100))
        );
        assert!(api.validate(parts, &page(101)).is_err(), "maxItems 100");
    }
}
