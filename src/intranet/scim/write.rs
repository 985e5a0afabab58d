//! Single writes: a [`Write`] (POST a User, or PATCH a resource with PatchOp operations and its
//! ETag as `If-Match`) sent as its own request.

use reqwest::Method;
use serde_json::{json, Value};

use super::{Endpoint, ScimClient, ScimError, Written};
use crate::intranet::fields::PATCH_OP;

/// One write `apply` makes: sent as its own request, or as one operation of a Bulk request.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// POST a new User.
    Create {
        resource: Value,
    },
    Patch(Patch),
}

/// PATCH a resource with PatchOp operations; `if_match` is the ETag it must still have.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub endpoint: Endpoint,
    pub id: String,
    pub operations: Vec<Value>,
    pub if_match: Option<String>,
}

impl Write {
    pub(super) fn method(&self) -> Method {
        match self {
            Write::Create { .. } => Method::POST,
            Write::Patch(_) => Method::PATCH,
        }
    }
}

pub(super) fn patch_body(operations: &[Value]) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": operations })
}

impl ScimClient {
    /// POST a new User. Returns its id and ETag, and the User the service answered with.
    pub async fn create_user(
        &self,
        resource: &Value,
    ) -> Result<(Written, Option<Value>), ScimError> {
        let url = self.url(Endpoint::Users.path())?;
        let ans = self
            .send(
                Method::POST,
                url.clone(),
                Some(&resource.to_string()),
                None,
                false,
            )
            .await?;
        let id = ans
            .body
            .as_ref()
            .and_then(|b| b.get("id"))
            .and_then(Value::as_str)
            .map(String::from);
        if id.is_none() {
            return Err(ScimError::BadResponse {
                url: url.to_string(),
                problem: "created User has no id".into(),
            });
        }
        let written = Written {
            id,
            etag: ans.etag,
            not_stored: Vec::new(),
        };
        Ok((written, ans.body))
    }

    /// PATCH a resource with SCIM PatchOp operations, with `If-Match` when given. A `204 No
    /// Content` answer is success without a body; a `200` may carry the resource as it is now
    /// (returned when it has an `id`).
    pub async fn patch(
        &self,
        endpoint: Endpoint,
        id: &str,
        operations: Vec<Value>,
        if_match: Option<&str>,
    ) -> Result<(Written, Option<Value>), ScimError> {
        let url = self.url(&endpoint.resource(id))?;
        let body = patch_body(&operations).to_string();
        let ans = self
            .send(Method::PATCH, url, Some(&body), if_match, true)
            .await?;
        debug_assert!(ans.status.is_success());
        let written = Written {
            id: Some(id.to_string()),
            etag: ans.etag,
            not_stored: Vec::new(),
        };
        let resource = ans.body.filter(|b| b.get("id").is_some());
        Ok((written, resource))
    }

    /// One write as its own request: what was written, and the resource the service answered
    /// with, when it did (a POST's 201, a PATCH's 200 with a body; not a PATCH's 204).
    pub async fn write(&self, write: &Write) -> Result<(Written, Option<Value>), ScimError> {
        match write {
            Write::Create { resource } => self.create_user(resource).await,
            Write::Patch(p) => {
                self.patch(
                    p.endpoint,
                    &p.id,
                    p.operations.clone(),
                    p.if_match.as_deref(),
                )
                .await
            }
        }
    }
}
