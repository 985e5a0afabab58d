//! The live SCIM service as an [`IntranetTarget`]: read through the delta cache ([`super::cache`],
//! as its [`CacheSettings`] allow), and written so: each [`WriteOp`] becomes a POST or a PatchOp
//! PATCH (with `If-Match` when the service has ETags), sent on its own or as an operation of a
//! Bulk request when the service announces Bulk and the config turns it on. A Bulk request
//! refused as a whole before any operation ran (404, 405, 413, 501) makes the rest of the run do
//! without Bulk. Once the service is unreachable, no write is tried any more.
//!
//! What services differ in, remembered for the run: a change to a multi-valued field (`email`,
//! `phone`) is built from the user as the service holds it then (one GET) and sent on its own;
//! a member removal the service refuses by filtered path (400, 501) is sent in the value-list
//! form from then on. The plan's read says how this service is written
//! ([`crate::plan::IntranetRead::writes`]).

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};

use super::cache::CacheSettings;
use super::{
    refused_whole, require_schemas, Capabilities, Endpoint, Patch, ScimClient, ScimError, Write,
};
use crate::intranet::fields::{self, Field};
use crate::intranet::{Batch, BatchFailed, IntranetTarget, Reading, Sent, UserEdits, WriteOp};
use crate::report::{NotStored, Outcome};

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
    /// The service refused a member removal by filtered path (`members[value eq "…"]`): the
    /// value-list form (`"path": "members", "value": [{"value": id}]`) from then on.
    members_by_value: AtomicBool,
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
            members_by_value: AtomicBool::new(false),
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

    /// How `apply` writes to this service, for the plan: Bulk or one request per change, with
    /// `If-Match` or without.
    fn writes(&self) -> String {
        let requests = match (self.caps.bulk, self.client.opts.bulk) {
            (true, Some(batch)) => format!(
                "Bulk requests of up to {} operations",
                self.caps
                    .bulk_max_operations
                    .map_or(batch, |m| m.min(batch))
                    .max(1)
            ),
            (true, None) => {
                "one request per change (Bulk is turned off in intranet.scim.bulk)".into()
            }
            (false, _) => "one request per change (the service announces no Bulk)".into(),
        };
        let version = if self.caps.etag {
            "with If-Match (the ETag read)"
        } else {
            "without If-Match (the service announces no ETags: an edit made after apply's fresh read is not detected)"
        };
        format!("{requests}, {version}")
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
                "the Bulk request of {writes} write{} carrying it failed as a whole (some may \
                 have been applied: plan again to see what is left): {detail}",
                crate::render::plural(writes)
            ),
        },
        other => other,
    }
}

/// The PatchOp operations of a change to a user; `now` is the user as the service holds it,
/// which a multi-valued field's write needs ([`fields::patch_ops`]).
fn user_ops(edits: &UserEdits, now: Option<&Value>) -> Result<Vec<Value>, String> {
    let mut ops = Vec::new();
    if let Some(ext) = &edits.external_id {
        ops.push(json!({"op": "replace", "path": "externalId", "value": ext}));
    }
    if let Some(active) = edits.active {
        ops.push(json!({"op": "replace", "path": "active", "value": active}));
    }
    ops.extend(fields::patch_ops(&edits.fields, now)?);
    Ok(ops)
}

/// A write that changes a multi-valued field (`email`, `phone`): it is sent on its own, built
/// from the user as the service holds it at that moment.
fn needs_resource(op: &WriteOp) -> bool {
    matches!(op, WriteOp::User { edits, .. } if fields::any_multi_valued(&edits.fields))
}

/// The PatchOp operations that remove `members` from a group: each by a filtered path
/// (RFC 7644 §3.5.2.2), or all in one value list, the form services written for Entra ID
/// expect.
fn member_removals(members: &[String], by_value: bool) -> Vec<Value> {
    if by_value {
        let values: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
        return vec![json!({"op": "remove", "path": "members", "value": values})];
    }
    members
        .iter()
        .map(|id| json!({"op": "remove", "path": format!("members[value eq \"{}\"]", id.replace('"', "\\\""))}))
        .collect()
}

/// The mapped fields `op` sent with a value that `resource`, the User the service answered the
/// write with, does not hold (read with the plan's own field readers): the service dropped them,
/// as a service does with an attribute it does not support. Only an absent value counts: a
/// value the service stored in its own form (another case, a normalised phone number) is
/// stored, and the next plan shows it as it is. A field cleared (sent without a value) is not
/// judged. Only where the answer carries the resource: a PATCH answered `204 No Content` (as
/// scim2-server's) or a Bulk operation (whose response carries no body in most servers) gives
/// nothing to compare, and its fields are taken as stored, as before.
fn not_stored(op: &WriteOp, resource: &Value) -> Vec<NotStored> {
    let sent: Vec<(&str, &str)> = match op {
        WriteOp::Create { fields, .. } => fields
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.as_deref()?)))
            .collect(),
        WriteOp::User { edits, .. } => edits
            .fields
            .iter()
            .filter_map(|f| Some((f.name.as_str(), f.after.as_deref()?)))
            .collect(),
        WriteOp::Members { .. } => Vec::new(),
    };
    sent.into_iter()
        .filter_map(|(name, _)| {
            let field = Field::parse(name)?;
            field.read(resource).is_none().then(|| NotStored {
                field: name.to_owned(),
                attribute: field.request_attribute(),
            })
        })
        .collect()
}

/// The SCIM request of a write, or why there is none.
pub fn to_write(op: &WriteOp) -> Result<Write, Outcome> {
    to_write_with(op, false)
}

/// [`to_write`], removing group members in the value-list form when `members_by_value`.
fn to_write_with(op: &WriteOp, members_by_value: bool) -> Result<Write, Outcome> {
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
            let operations = user_ops(edits, None).map_err(Outcome::failed)?;
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
                member_removals(members, members_by_value)
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
        let (state, mut read) =
            super::cache::read_state(&self.client, &self.caps, &self.fields, &self.cache).await?;
        read.writes = Some(self.writes());
        if let Some(detail) = self.client.projection_refused() {
            let detail = if detail.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", detail.trim())
            };
            read.notes.push(format!(
                "the service refused `attributes=` (HTTP 400{detail}); Roster read full resources instead"
            ));
        }
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
        // A multi-valued field's write is built from the user as it is then: on its own.
        let (alone, grouped): (Vec<usize>, Vec<usize>) =
            (0..writes.len()).partition(|&i| needs_resource(&writes[i]));
        if alone.is_empty() {
            return match writes.iter().map(to_write).collect::<Result<Vec<_>, _>>() {
                Ok(requests) => self.client.batches(&self.caps, &requests),
                Err(_) => singles(),
            };
        }
        let mut out: Vec<Batch> = alone.into_iter().map(Batch::Single).collect();
        // Bulk over the contiguous runs of the others, as indices into `writes`.
        let mut run: Vec<usize> = Vec::new();
        let flush = |run: &mut Vec<usize>, out: &mut Vec<Batch>| {
            if let (Some(&first), Some(_)) = (run.first(), run.last()) {
                match run
                    .iter()
                    .map(|&i| to_write(&writes[i]))
                    .collect::<Result<Vec<_>, _>>()
                {
                    Ok(requests) => {
                        out.extend(self.client.batches(&self.caps, &requests).into_iter().map(
                            |b| match b {
                                Batch::Single(i) => Batch::Single(first + i),
                                Batch::Bulk(r) => Batch::Bulk(first + r.start..first + r.end),
                            },
                        ))
                    }
                    Err(_) => out.extend(run.iter().map(|&i| Batch::Single(i))),
                }
            }
            run.clear();
        };
        for i in grouped {
            if run.last().is_some_and(|&last| last + 1 != i) {
                flush(&mut run, &mut out);
            }
            run.push(i);
        }
        flush(&mut run, &mut out);
        out
    }

    async fn write(&self, write: &WriteOp) -> Sent {
        let by_value = self.members_by_value.load(Ordering::SeqCst);
        let mut request = to_write_with(write, by_value)?;
        if let (WriteOp::User { id, edits, .. }, Write::Patch(patch)) = (write, &mut request) {
            if needs_resource(write) {
                let now = self
                    .client
                    .get(&Endpoint::Users.resource(id))
                    .await
                    .map_err(|e| self.failed(&e))?;
                patch.operations =
                    user_ops(edits, Some(&now)).map_err(|detail| Outcome::Stale { detail })?;
            }
        }
        match self.client.write(&request).await {
            // The filtered path refused (400, 501): the value-list form, for the rest of the run.
            Err(ScimError::Http {
                status: 400 | 501, ..
            }) if !by_value && matches!(write, WriteOp::Members { add: false, .. }) => {
                let request = to_write_with(write, true)?;
                let (written, _) = self
                    .client
                    .write(&request)
                    .await
                    .map_err(|e| self.failed(&e))?;
                self.members_by_value.store(true, Ordering::SeqCst);
                Ok(written)
            }
            Ok((mut written, resource)) => {
                if let Some(resource) = &resource {
                    written.not_stored = not_stored(write, resource);
                }
                Ok(written)
            }
            Err(e) => Err(self.failed(&e)),
        }
    }

    async fn write_batch(
        &self,
        writes: &[WriteOp],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Sent>, BatchFailed> {
        let by_value = self.members_by_value.load(Ordering::SeqCst);
        let requests = writes[range.clone()]
            .iter()
            .map(|w| to_write_with(w, by_value))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_removals_by_filtered_path_or_by_value_list() {
        let ids = ["7".to_string(), "a\"b".to_string()];
        assert_eq!(
            member_removals(&ids, false),
            [
                json!({"op": "remove", "path": "members[value eq \"7\"]"}),
                json!({"op": "remove", "path": "members[value eq \"a\\\"b\"]"}),
            ]
        );
        assert_eq!(
            member_removals(&ids, true),
            [
                json!({"op": "remove", "path": "members", "value": [{"value": "7"}, {"value": "a\"b"}]})
            ]
        );
    }

    #[test]
    fn a_multi_valued_change_goes_on_its_own() {
        let edits = |name: &str| UserEdits {
            fields: vec![crate::plan::FieldChange {
                name: name.into(),
                before: Some("a".into()),
                after: Some("b".into()),
                origin: None,
            }],
            ..UserEdits::default()
        };
        let user = |name: &str| WriteOp::User {
            id: "1".into(),
            if_match: None,
            edits: edits(name),
        };
        assert!(needs_resource(&user("email")));
        assert!(needs_resource(&user("phone")));
        assert!(!needs_resource(&user("job_title")));
    }
}
