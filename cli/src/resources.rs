//! The stack's stateful resources, created in the emulators exactly as `template.yaml`
//! declares them on AWS.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use shared::dynamo::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

/// The ownership table: `owner_id` (hash) + `file_id` (range), on demand, TTL on `expires_at`.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), String> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| e.to_string())
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(PARTITION_KEY)?)
        .attribute_definitions(attribute(SORT_KEY)?)
        .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(SORT_KEY, KeyType::Range)?)
        .send()
        .await
        .map_err(|e| format!("CreateTable {name}: {}", shared::aws::error_summary(&e)))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| {
            format!(
                "UpdateTimeToLive {name}: {}",
                shared::aws::error_summary(&e)
            )
        })?;
    Ok(())
}

/// The signing-key secret, holding `{"key_pair_id", "private_key_pem"}`. Returns its ARN.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    key_pair_id: &str,
    private_key_pem: &str,
) -> Result<String, String> {
    let value = serde_json::json!({"key_pair_id": key_pair_id, "private_key_pem": private_key_pem})
        .to_string();
    let out = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| format!("CreateSecret {name}: {}", shared::aws::error_summary(&e)))?;
    Ok(out.arn.unwrap_or_default())
}
