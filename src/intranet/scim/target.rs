//! The live SCIM service as an [`IntranetTarget`]: read through the delta cache ([`super::cache`],
//! as its [`CacheSettings`] allow), and written so: each [`WriteOp`] becomes a POST or a PatchOp
//! PATCH (with `If-Match` when the service has ETags), sent on its own or as an operation of a
//! Bulk request when the service announces Bulk and the config turns it on. A Bulk request
//! refused as a whole before any operation ran (404, 405, 413, 501) makes the rest of the run do
//! without Bulk. Once the service is unreachable, no write is tried any more.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};

use super::cache::CacheSettings;
use super::{
    refused_whole, require_schemas, Capabilities, Endpoint, Patch, ScimClient, ScimError, Write,
};
use crate::intranet::fields::{self, Field};
use crate::intranet::{Batch, BatchFailed, IntranetTarget, Reading, Sent, UserEdits, WriteOp};
use crate::report::Outcome;

/// A connected, discovered SCIM service: read by `observe`, written through by `apply`.
pub struct ScimTarget {
    client: ScimClient,
    caps: Capabilities,
    /// The intranet fields a read asks for.
    fields: Vec<String>,
    /// How a read may use the cache (none: every read is full).
    cache: CacheSettings,
    down: AtomicBool,
    /// The service refused a Bulk request as a whole: single requests from then on.
    no_bulk: AtomicBool,
}

impl ScimTarget {
    /// The service `client` connects to, with its capabilities, reading the intranet `fields`
    /// in full at every read (see [`ScimTarget::with_cache`]).
    pub fn new(client: ScimClient, caps: Capabilities, fields: Vec<String>) -> Self {
        ScimTarget {
            client,
            caps,
            fields,
            cache: CacheSettings::default(),
            down: AtomicBool::new(false),
            no_bulk: AtomicBool::new(false),
        }
    }

    /// Reads use the cache as `cache` allows: only the Users changed since the last read.
    pub fn with_cache(mut self, cache: CacheSettings) -> Self {
        self.cache = cache;
        self
    }

    /// The client, for what is not a read or a write (who the token is, for the audit).
    pub fn client(&self) -> &ScimClient {
        &self.client
    }

    /// What became of a write the service refused, or that could not be sent; an unreachable
    /// service stops the writes not yet tried.
    fn failed(&self, e: &ScimError) -> Outcome {
        if matches!(e, ScimError::Unreachable { .. }) {
            self.down.store(true, Ordering::SeqCst);
        }
        outcome_of(e)
    }
}

/// A 412 (`If-Match` no longer holds) is stale; anything else failed.
fn outcome_of(e: &ScimError) -> Outcome {
    match e {
        ScimError::Http {
            status: 412,
            detail,
            ..
        } => Outcome::Stale {
            detail: detail.clone(),
        },
        other => Outcome::Failed {
            http_status: other.status(),
            detail: other.to_string(),
        },
    }
}

/// A change whose write went in a Bulk request that failed as a whole.
fn bulk_outcome(e: &ScimError, writes: usize) -> Outcome {
    match outcome_of(e) {
        Outcome::Failed {
            http_status,
            detail,
        } => Outcome::Failed {
            http_status,
            detail: format!(
                "the Bulk request of {writes} writes carrying it failed as a whole (some may \
                 have been applied: plan again to see what is left): {detail}"
            ),
        },
        other => other,
    }
}

/// The PatchOp operations of a change to a user.
fn user_ops(edits: &UserEdits) -> Vec<Value> {
    let mut ops = Vec::new();
    if let Some(ext) = &edits.external_id {
        ops.push(json!({"op": "replace", "path": "externalId", "value": ext}));
    }
    if let Some(active) = edits.active {
        ops.push(json!({"op": "replace", "path": "active", "value": active}));
    }
    ops.extend(fields::patch_ops(&edits.fields));
    ops
}

/// The SCIM request of a write, or why there is none.
pub fn to_write(op: &WriteOp) -> Result<Write, Outcome> {
    match op {
        WriteOp::Create {
            username,
            external_id,
            fields: values,
        } => {
            let mut pairs = Vec::new();
            for (name, value) in values {
                let Some(field) = Field::parse(name) else {
                    return Err(Outcome::failed(format!("unknown intranet field `{name}`")));
                };
                pairs.push((field, value.as_deref()));
            }
            let resource = fields::user_resource(username, external_id.as_deref(), true, &pairs);
            Ok(Write::Create { resource })
        }
        WriteOp::User {
            id,
            if_match,
            edits,
        } => {
            let operations = user_ops(edits);
            if operations.is_empty() {
                return Err(Outcome::failed("no SCIM operation for these field changes"));
            }
            Ok(Write::Patch(Patch {
                endpoint: Endpoint::Users,
                id: id.clone(),
                operations,
                if_match: if_match.clone(),
            }))
        }
        WriteOp::Members {
            group_id,
            if_match,
            add,
            members,
        } => {
            let operations = if *add {
                let values: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
                vec![json!({"op": "add", "path": "members", "value": values})]
            } else {
                members
                    .iter()
                    .map(|id| json!({"op": "remove", "path": format!("members[value eq \"{}\"]", id.replace('"', "\\\""))}))
                    .collect()
            };
            Ok(Write::Patch(Patch {
                endpoint: Endpoint::Groups,
                id: group_id.clone(),
                operations,
                if_match: if_match.clone(),
            }))
        }
    }
}

impl IntranetTarget for ScimTarget {
    /// Users through the cache (a delta read when it can be verified), Groups in full; says how.
    async fn read(&self) -> miette::Result<Reading> {
        require_schemas(&self.caps, &self.fields)?;
        let (state, read) =
            super::cache::read_state(&self.client, &self.caps, &self.fields, &self.cache).await?;
        Ok(Reading {
            state,
            read: Some(read),
        })
    }

    fn etags(&self) -> bool {
        self.caps.etag
    }

    fn concurrency(&self) -> usize {
        self.client.concurrency()
    }

    fn unavailable(&self) -> Option<Outcome> {
        self.down.load(Ordering::SeqCst).then(|| {
            Outcome::failed("not attempted: the SCIM service became unreachable during the apply")
        })
    }

    fn check(&self, write: &WriteOp) -> Result<(), Outcome> {
        to_write(write).map(|_| ())
    }

    /// As the client batches them (its batch size, the service's `maxOperations` and
    /// `maxPayloadSize`); each on its own once the service refused Bulk.
    fn batches(&self, writes: &[WriteOp]) -> Vec<Batch> {
        let singles = || (0..writes.len()).map(Batch::Single).collect();
        if self.no_bulk.load(Ordering::SeqCst) {
            return singles();
        }
        match writes.iter().map(to_write).collect::<Result<Vec<_>, _>>() {
            Ok(requests) => self.client.batches(&self.caps, &requests),
            Err(_) => singles(),
        }
    }

    async fn write(&self, write: &WriteOp) -> Sent {
        let request = to_write(write)?;
        self.client
            .write(&request)
            .await
            .map_err(|e| self.failed(&e))
    }

    async fn write_batch(
        &self,
        writes: &[WriteOp],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Sent>, BatchFailed> {
        let requests = writes[range.clone()]
            .iter()
            .map(to_write)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| BatchFailed::Refused)?;
        match self.client.bulk(&requests, range.start).await {
            Ok(answers) => Ok(answers
                .into_iter()
                .map(|a| a.map_err(|e| self.failed(&e)))
                .collect()),
            // Refused before any operation ran (no Bulk after all, or too large): nothing was
            // written, and the rest of the run does without Bulk.
            Err(e) if refused_whole(&e) => {
                self.no_bulk.store(true, Ordering::SeqCst);
                Err(BatchFailed::Refused)
            }
            // Failed as a whole after it may have reached the service (the client already
            // resent it where that is safe).
            Err(e) => {
                self.failed(&e);
                Err(BatchFailed::Failed(bulk_outcome(&e, range.len())))
            }
        }
    }
}
