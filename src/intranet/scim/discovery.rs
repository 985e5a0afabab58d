//! What the service supports ([`Capabilities`], from `/ServiceProviderConfig` and
//! `/ResourceTypes`), whether that is enough for the mapped fields, and [`connect`]: client,
//! discovery and that check in one step.

use serde_json::Value;

use super::{ScimClient, ScimError};
use crate::config::Loaded;
use crate::intranet::fields::{Field, ENTERPRISE_USER};

/// What the service says it supports (`/ServiceProviderConfig`, `/ResourceTypes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub patch: bool,
    pub bulk: bool,
    pub filter: bool,
    pub etag: bool,
    /// `filter.maxResults`: the most resources one page may hold.
    pub max_results: Option<usize>,
    /// The User resource type lists the enterprise extension.
    pub enterprise: bool,
    /// `bulk.maxOperations`: the most operations one Bulk request may hold.
    pub bulk_max_operations: Option<usize>,
    /// `bulk.maxPayloadSize`: the largest Bulk request body, in bytes.
    pub bulk_max_payload: Option<usize>,
}

impl ScimClient {
    /// Read `/ServiceProviderConfig` and the User resource type.
    pub async fn discover(&self) -> Result<Capabilities, ScimError> {
        let spc = self.get("ServiceProviderConfig").await?;
        let supported = |k: &str| {
            spc.get(k)
                .and_then(|f| f.get("supported"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let max_results = spc
            .get("filter")
            .and_then(|f| f.get("maxResults"))
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0);
        let bulk_limit = |k: &str| {
            spc.get("bulk")
                .and_then(|b| b.get(k))
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
        };
        let enterprise = match self.get("ResourceTypes").await {
            Ok(list) => resource_list(&list).iter().any(|rt| {
                rt.get("name").and_then(Value::as_str) == Some("User")
                    && rt
                        .get("schemaExtensions")
                        .and_then(Value::as_array)
                        .is_some_and(|exts| {
                            exts.iter().any(|e| {
                                e.get("schema").and_then(Value::as_str) == Some(ENTERPRISE_USER)
                            })
                        })
            }),
            // A service without /ResourceTypes says nothing: let writes tell.
            Err(ScimError::Http { status: 404, .. }) => true,
            Err(e) => return Err(e),
        };
        Ok(Capabilities {
            patch: supported("patch"),
            bulk: supported("bulk"),
            filter: supported("filter"),
            etag: supported("etag"),
            max_results,
            enterprise,
            bulk_max_operations: bulk_limit("maxOperations"),
            bulk_max_payload: bulk_limit("maxPayloadSize"),
        })
    }
}

/// A connected, discovered SCIM service: what `observe` and `apply` start from.
#[derive(Debug, Clone)]
pub struct Live {
    pub client: ScimClient,
    pub caps: Capabilities,
}

/// Build the client from `intranet.scim` (token from the environment or a file next to the
/// config), discover the service, and check it has what the mapped fields need.
pub async fn connect(cfg: &Loaded) -> Result<Live, ScimError> {
    let Some(scim) = &cfg.config.intranet.scim else {
        return Err(ScimError::Unsupported {
            feature: "a live intranet: the config has no `intranet.scim`".into(),
        });
    };
    let client = ScimClient::from_config(scim, &cfg.dir, |k| std::env::var(k).ok())?;
    let caps = client.discover().await?;
    require_schemas(&caps, &mapped_fields(cfg))?;
    Ok(Live { client, caps })
}

/// The intranet field names the config maps.
pub fn mapped_fields(cfg: &Loaded) -> Vec<String> {
    cfg.config.field_mappings.keys().cloned().collect()
}

fn resource_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        other => other
            .get("Resources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    }
}

/// Fail clearly when the service lacks PATCH, or a schema the mapped fields need.
pub fn require_schemas(caps: &Capabilities, fields: &[String]) -> Result<(), ScimError> {
    if !caps.patch {
        return Err(ScimError::Unsupported {
            feature: "PATCH (RFC 7644 §3.5.2)".into(),
        });
    }
    let needing: Vec<&str> = fields
        .iter()
        .filter(|f| Field::parse(f).is_some_and(|p| p.schema() == Some(ENTERPRISE_USER)))
        .map(String::as_str)
        .collect();
    if !caps.enterprise && !needing.is_empty() {
        return Err(ScimError::SchemaMissing {
            schema: ENTERPRISE_USER.into(),
            fields: needing.join(", "),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enterprise_fields_need_the_extension() {
        let caps = Capabilities {
            patch: true,
            bulk: false,
            filter: true,
            etag: true,
            max_results: None,
            enterprise: false,
            bulk_max_operations: None,
            bulk_max_payload: None,
        };
        let err = require_schemas(&caps, &["email".into(), "department".into()]).unwrap_err();
        assert!(err.to_string().contains("department"));
        assert!(require_schemas(&caps, &["email".into()]).is_ok());
    }
}
