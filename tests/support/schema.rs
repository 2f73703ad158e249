//! The OpenAPI document as the tests read it: the documented routes, statuses and error
//! codes, and a validator for the part of JSON Schema the document uses (`$ref`, `allOf`,
//! `oneOf`, `type`, `enum`, `const`, `required`, `properties`, `additionalProperties`,
//! `items`, `minimum`).

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

    /// Why `value` does not match `schema`, if it does not.
    pub fn validate(&self, schema: &Value, value: &Value) -> Result<(), String> {
        self.check(schema, value, "$")
    }

    fn check(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if let Some(parts) = schema["allOf"].as_array() {
            for part in parts {
                self.check(part, value, at)?;
            }
        }
        if let Some(options) = schema["oneOf"].as_array() {
            let matching = options
                .iter()
                .filter(|option| self.check(option, value, at).is_ok())
                .count();
            if matching != 1 {
                return Err(format!("{at}: matches {matching} of oneOf, not exactly 1"));
            }
        }
        if let Some(allowed) = schema.get("const")
            && allowed != value
        {
            return Err(format!("{at}: {value} is not {allowed}"));
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
            return Err(format!("{at}: {value} is not of type {types:?}"));
        }
        if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), value.as_f64())
            && number < minimum
        {
            return Err(format!("{at}: {number} is below {minimum}"));
        }
        if let Value::Object(object) = value {
            for field in schema["required"].as_array().into_iter().flatten() {
                let field = field.as_str().unwrap_or_default();
                if !object.contains_key(field) {
                    return Err(format!("{at}: missing {field}"));
                }
            }
            let properties = schema["properties"].as_object();
            for (name, item) in object {
                match properties.and_then(|p| p.get(name)) {
                    Some(property) => self.check(property, item, &format!("{at}.{name}"))?,
                    None => match &schema["additionalProperties"] {
                        Value::Bool(false) => {
                            return Err(format!("{at}: {name} is not a documented field"));
                        }
                        Value::Object(_) => self.check(
                            &schema["additionalProperties"],
                            item,
                            &format!("{at}.{name}"),
                        )?,
                        _ => {}
                    },
                }
            }
        }
        if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                self.check(item_schema, item, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
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
            api.validate(error, &json!({"error": "file_not_found", "message": "m"}))
                .is_ok()
        );
        for bad in [
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
            api.validate(schema, &json!({"error": "unauthorized", "message": "m"}))
                .is_ok()
        );
        assert!(
            api.validate(schema, &json!({"error": "file_not_found", "message": "m"}))
                .is_err()
        );
    }
}
