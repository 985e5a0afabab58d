//! Apply: carry out a `Plan` through the SCIM client and record what became of each change.
//! The only writer. It POSTs and PATCHes; it has no way to delete.
//!
//! Order, safe when interrupted (each phase finishes before the next starts): links, renames
//! (one at a time, in the plan's dependency order, so a target name is free when its rename
//! runs), creates, updates, reactivations, grants, revokes, blocks. Within a phase, changes run
//! concurrently up to the client's `concurrency`. A new account's id is known before the grants
//! that need it, since grants are a later phase (no `bulkId` references are needed).
//!
//! When the service announces SCIM Bulk (RFC 7644 §3.7) and `intranet.scim.bulk.enabled` is on,
//! the writes of a phase (but renames, sent one at a time) go as Bulk requests, batched by the
//! client ([`ScimClient::batches`]); each operation still gets its own outcome. No
//! `failOnErrors` is sent, so the service goes on past a failed operation as apply goes on past
//! a failed change. A Bulk request refused as a whole before any operation ran (404, 405, 413,
//! 501) is resent as single requests, and the rest of the run does without Bulk; one that failed
//! otherwise is resent only where the client's retry rules make it safe, and then each of its
//! changes is failed, never resent (see [`ScimClient::bulk`]).
//!
//! Every write carries `If-Match` with the plan's ETag when the service supports ETags (in a
//! Bulk request: the operation's `version`, which acts the same); after Roster's own write to a
//! resource, the ETag the server answered with is used for the next write to it. A 412 marks the
//! change `stale`; the run goes on. Once the service is unreachable, the changes not yet tried
//! are marked failed without trying them.
//!
//! # Exit codes (for the CLI)
//! - [`crate::exit::OK`] (0): every change applied (or the plan was empty).
//! - [`crate::exit::ERROR`] (1): nothing was written: config, connection or discovery failed.
//! - [`crate::exit::PARTIAL`] (3): the apply ran, but some changes failed or were stale: see the audit
//!   report; planning again and applying converges.
//! - [`crate::exit::STALE`] (5): refused before any write: the config changed, or the directory or
//!   intranet changed so that the plan's changes are no longer what a fresh plan would do.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use miette::Diagnostic;
use serde::Serialize;
use serde_json::{json, Value};
use thiserror::Error;

use crate::intranet::fields::{self, Field};
use crate::intranet::scim::{
    self, Batch, Capabilities, Endpoint, Patch, ScimClient, ScimError, Write, Written,
};
use crate::model::IntranetState;
use crate::plan::{Action, Change, FieldChange, Plan};

/// What became of one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    /// Not applied: the server refused it, or it could not be sent.
    Failed {
        #[serde(skip_serializing_if = "Option::is_none")]
        http_status: Option<u16>,
        detail: String,
    },
    /// Not applied: the resource changed since the plan (412 on `If-Match`).
    Stale {
        detail: String,
    },
}

impl Outcome {
    /// In words, for the terminal: `failed (HTTP 400): ...`, `stale: ...`.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Applied => "applied".into(),
            Outcome::Failed {
                http_status: Some(s),
                detail,
            } => format!("failed (HTTP {s}): {detail}"),
            Outcome::Failed {
                http_status: None,
                detail,
            } => format!("failed: {detail}"),
            Outcome::Stale { detail } => format!("stale (changed since the plan): {detail}"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Failed { .. } => "failed",
            Outcome::Stale { .. } => "stale",
        }
    }
    fn failed(detail: impl Into<String>) -> Outcome {
        Outcome::Failed {
            http_status: None,
            detail: detail.into(),
        }
    }
    /// A change whose write went in a Bulk request that failed as a whole.
    fn from_bulk_error(e: &ScimError, writes: usize) -> Outcome {
        match Outcome::from_error(e) {
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
    fn from_error(e: &ScimError) -> Outcome {
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
}

/// One change of the plan and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeOutcome {
    pub change: Change,
    pub outcome: Outcome,
}

/// The outcome of every change, in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    pub outcomes: Vec<ChangeOutcome>,
}

impl ApplyReport {
    pub fn count(&self, status: &str) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.outcome.name() == status)
            .count()
    }
    /// "N applied, N failed, N stale": the outcome in one line, as the terminal, the audit
    /// report and its commit say it.
    pub fn tally(&self) -> String {
        format!(
            "{} applied, {} failed, {} stale",
            self.count("applied"),
            self.count("failed"),
            self.count("stale")
        )
    }
    pub fn is_complete(&self) -> bool {
        self.outcomes.iter().all(|o| o.outcome == Outcome::Applied)
    }
    pub fn exit_code(&self) -> u8 {
        if self.is_complete() {
            crate::exit::OK
        } else {
            crate::exit::PARTIAL
        }
    }
}

/// A saved plan that no longer matches what a fresh plan would do.
#[derive(Debug, Error, Diagnostic)]
#[error("the plan is stale; nothing was applied:\n{}", differences.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
#[diagnostic(
    code(roster::apply::stale_plan),
    help("run `roster plan` again, review it, and apply the new plan")
)]
pub struct StalePlan {
    pub differences: Vec<String>,
}

/// A saved plan whose recorded figures (summary counts, licence use) are not what its changes
/// give: edited by hand, or not written by Roster. Refused before anything is read or written.
#[derive(Debug, Error, Diagnostic)]
#[error("the plan's recorded figures do not match its changes; nothing was applied:\n{}", mismatches.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
#[diagnostic(
    code(roster::apply::inconsistent_plan),
    help("a plan's counts are derived from its changes: make the plan again with `roster plan -o plan.json`, review it, and apply that")
)]
pub struct InconsistentPlan {
    pub mismatches: Vec<String>,
}

/// Refuse a saved plan whose summary or licence figures disagree with its changes.
pub fn check_figures(saved: &Plan) -> Result<(), InconsistentPlan> {
    let mismatches = saved.figure_mismatches();
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(InconsistentPlan { mismatches })
    }
}

/// Check that a saved plan was made from the config commit that is checked out now, and not from
/// uncommitted edits: what is applied must be what was reviewed.
pub fn check_revision(saved: &Plan, now: Option<&crate::plan::Revision>) -> Result<(), StalePlan> {
    let mut differences = Vec::new();
    match (&saved.inputs.config_revision, now) {
        (Some(planned), _) if planned.dirty => differences.push(format!("the plan was made from uncommitted edits on top of {}", short(&planned.commit))),
        (Some(planned), Some(now)) if planned.commit != now.commit => {
            differences.push(format!("the plan was made from config commit {}, but {} is checked out", short(&planned.commit), short(&now.commit)))
        }
        (Some(planned), None) => differences.push(format!("the plan was made from config commit {}, but the config is not in a git repository now", short(&planned.commit))),
        _ => {}
    }
    if let Some(now) = now.filter(|n| n.dirty) {
        differences.push(format!(
            "the config has uncommitted edits on top of {}",
            short(&now.commit)
        ));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(StalePlan { differences })
    }
}

fn short(commit: &str) -> &str {
    crate::digest::short(commit, 12)
}

/// Check a saved plan against the config digest now and against a plan computed fresh from the
/// directory and intranet now. ETags and reasons are not compared: an ETag that moved without
/// changing what the plan does is caught per change by `If-Match` (412 → stale).
pub fn check_fresh(saved: &Plan, config_digest: &str, fresh: &Plan) -> Result<(), StalePlan> {
    let mut differences = Vec::new();
    if saved.inputs.config != config_digest {
        differences.push(format!(
            "the config changed since the plan was made ({} → {config_digest})",
            saved.inputs.config
        ));
    }
    let key = |c: &Change| {
        (
            c.action,
            c.username.clone(),
            c.role.as_ref().map(|r| r.role.clone()),
        )
    };
    let norm = |c: &Change| {
        let mut c = c.clone();
        c.etag = None;
        c.reason = String::new();
        if let Some(r) = c.role.as_mut() {
            r.group_etag = None;
        }
        c
    };
    let describe = |c: &Change| match &c.role {
        Some(r) => format!("{} {} ({})", c.action.name(), c.username, r.role),
        None => format!("{} {}", c.action.name(), c.username),
    };
    let old: BTreeMap<_, _> = saved.changes.iter().map(|c| (key(c), norm(c))).collect();
    let new: BTreeMap<_, _> = fresh.changes.iter().map(|c| (key(c), norm(c))).collect();
    for (k, c) in &old {
        match new.get(k) {
            None => differences.push(format!("- no longer needed: {}", describe(c))),
            Some(n) if n != c => differences.push(format!("~ differs now: {}", describe(c))),
            Some(_) => {}
        }
    }
    for (k, c) in &new {
        if !old.contains_key(k) {
            differences.push(format!("+ newly needed: {}", describe(c)));
        }
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(StalePlan { differences })
    }
}

/// Shared state of one run.
struct Run<'a> {
    client: &'a ScimClient,
    caps: &'a Capabilities,
    /// Lowercased username → SCIM id, from the intranet as read plus creates and renames.
    ids: Mutex<HashMap<String, String>>,
    /// SCIM id → ETag after Roster's own write (`None`: written, ETag unknown).
    written: Mutex<HashMap<String, Option<String>>>,
    down: AtomicBool,
    /// The service refused a Bulk request as a whole: single requests from then on.
    no_bulk: AtomicBool,
}

/// A write's result: what the service answered, or the outcome of a write that did not happen.
type Sent = Result<Written, Outcome>;

fn outcome_of(sent: Sent) -> Outcome {
    sent.map_or_else(|o| o, |_| Outcome::Applied)
}

impl Run<'_> {
    fn id_of(&self, username: &str) -> Option<String> {
        self.ids.lock().ok()?.get(&username.to_lowercase()).cloned()
    }

    fn set_id(&self, username: &str, id: &str) {
        if let Ok(mut ids) = self.ids.lock() {
            ids.insert(username.to_lowercase(), id.to_string());
        }
    }

    /// The `If-Match` for a write to `id`: the ETag of Roster's last write to it, else the plan's.
    fn if_match(&self, id: &str, planned: Option<&str>) -> Option<String> {
        if !self.caps.etag {
            return None;
        }
        match self.written.lock().ok().and_then(|w| w.get(id).cloned()) {
            Some(after_our_write) => after_our_write,
            None => planned.map(String::from),
        }
    }

    fn record(&self, id: &str, w: &Written) {
        if let Ok(mut written) = self.written.lock() {
            written.insert(id.to_string(), w.etag.clone());
        }
    }

    fn note(&self, e: &ScimError) {
        if matches!(e, ScimError::Unreachable { .. }) {
            self.down.store(true, Ordering::SeqCst);
        }
    }

    fn skipped(&self) -> Option<Outcome> {
        self.down.load(Ordering::SeqCst).then(|| {
            Outcome::failed("not attempted: the SCIM service became unreachable during the apply")
        })
    }

    /// A PATCH of `id`, with the `If-Match` it is due.
    fn patch(&self, endpoint: Endpoint, id: &str, ops: Vec<Value>, planned: Option<&str>) -> Write {
        Write::Patch(Patch {
            endpoint,
            id: id.to_string(),
            operations: ops,
            if_match: self.if_match(id, planned),
        })
    }

    /// What the service answered to one write, recorded (the ETag after Roster's own write).
    fn settle(&self, answer: Result<Written, ScimError>) -> Sent {
        match answer {
            Ok(w) => {
                if let Some(id) = &w.id {
                    self.record(id, &w);
                }
                Ok(w)
            }
            Err(e) => {
                self.note(&e);
                Err(Outcome::from_error(&e))
            }
        }
    }

    async fn send_one(&self, write: &Write) -> Sent {
        if let Some(o) = self.skipped() {
            return Err(o);
        }
        self.settle(self.client.write(write).await)
    }

    /// Send every write, each as its own request or as an operation of a Bulk request (as the
    /// client batches them); one result per write, in order. Batches run concurrently up to the
    /// client's `concurrency`, and start in order, so that once the service is unreachable the
    /// ones not yet started are not tried.
    async fn send(&self, writes: &[Write]) -> Vec<Sent> {
        let batches = if self.no_bulk.load(Ordering::SeqCst) {
            (0..writes.len()).map(Batch::Single).collect()
        } else {
            self.client.batches(self.caps, writes)
        };
        let done: Vec<Vec<(usize, Sent)>> = stream::iter(batches)
            .map(|batch| self.send_batch(writes, batch))
            .buffered(self.client.concurrency().max(1))
            .collect()
            .await;
        let mut results: Vec<Option<Sent>> = vec![None; writes.len()];
        for (i, sent) in done.into_iter().flatten() {
            results[i] = Some(sent);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Outcome::failed("not attempted"))))
            .collect()
    }

    async fn send_batch(&self, writes: &[Write], batch: Batch) -> Vec<(usize, Sent)> {
        let range = match batch {
            Batch::Single(i) => return vec![(i, self.send_one(&writes[i]).await)],
            Batch::Bulk(range) => range,
        };
        if let Some(o) = self.skipped() {
            return range.map(|i| (i, Err(o.clone()))).collect();
        }
        match self.client.bulk(writes, range.clone()).await {
            Ok(answers) => range
                .zip(answers)
                .map(|(i, a)| (i, self.settle(a)))
                .collect(),
            // Refused before any operation ran (no Bulk after all, or too large): nothing was
            // written, so each write goes again on its own, and the rest of the run does without
            // Bulk.
            Err(e) if scim::refused_whole(&e) => {
                self.no_bulk.store(true, Ordering::SeqCst);
                join_all(range.map(|i| async move { (i, self.send_one(&writes[i]).await) })).await
            }
            // Failed as a whole after it may have reached the service (the client already
            // resent it where that is safe): some of its operations may have run, so none is
            // sent again; each is reported failed, and the next plan shows what is left.
            Err(e) => {
                self.note(&e);
                let o = Outcome::from_bulk_error(&e, range.len());
                range.map(|i| (i, Err(o.clone()))).collect()
            }
        }
    }

    /// Send the writes of `prepared` (those that could be made), and pair each key with its
    /// result.
    async fn send_prepared<K>(&self, prepared: Vec<(K, Result<Write, Outcome>)>) -> Vec<(K, Sent)> {
        let mut writes = Vec::new();
        let keys: Vec<(K, Option<Outcome>)> = prepared
            .into_iter()
            .map(|(k, p)| match p {
                Ok(w) => {
                    writes.push(w);
                    (k, None)
                }
                Err(o) => (k, Some(o)),
            })
            .collect();
        let mut sent = self.send(&writes).await.into_iter();
        keys.into_iter()
            .map(|(k, unsent)| {
                let result = match unsent {
                    Some(o) => Err(o),
                    None => sent
                        .next()
                        .unwrap_or_else(|| Err(Outcome::failed("not attempted"))),
                };
                (k, result)
            })
            .collect()
    }

    /// Field changes with `manager` turned from the plan's username into the manager's SCIM id.
    fn resolve_fields(&self, fields: &[FieldChange]) -> Result<Vec<FieldChange>, String> {
        fields
            .iter()
            .map(|f| {
                let mut f = f.clone();
                if f.name == "manager" {
                    if let Some(name) = &f.after {
                        f.after =
                            Some(self.id_of(name).ok_or_else(|| {
                                format!("manager {name} has no intranet account")
                            })?);
                    }
                }
                Ok(f)
            })
            .collect()
    }

    /// The PATCH of a link, rename, update, reactivation or block.
    fn user_change(&self, c: &Change) -> Result<Write, Outcome> {
        let Some(id) = c.intranet_id.as_deref() else {
            return Err(Outcome::failed(
                "the plan gives no intranet id for this account",
            ));
        };
        let ops = match c.action {
            Action::Reactivate => vec![json!({"op": "replace", "path": "active", "value": true})],
            Action::Block => vec![json!({"op": "replace", "path": "active", "value": false})],
            Action::Rename | Action::Update | Action::Link => {
                let fields = self.resolve_fields(&c.fields).map_err(Outcome::failed)?;
                let mut ops = Vec::new();
                if c.action == Action::Link {
                    let Some(ext) = &c.external_id else {
                        return Err(Outcome::failed("a link needs the directory's immutable ID"));
                    };
                    ops.push(json!({"op": "replace", "path": "externalId", "value": ext}));
                }
                ops.extend(fields::patch_ops(&fields));
                ops
            }
            Action::Create | Action::Grant | Action::Revoke => {
                return Err(Outcome::failed("not a change to an existing account"));
            }
        };
        if ops.is_empty() {
            return Err(Outcome::failed("no SCIM operation for these field changes"));
        }
        Ok(self.patch(Endpoint::Users, id, ops, c.etag.as_deref()))
    }

    /// After a user change was sent: a rename moves the username → id entry.
    fn user_changed(&self, c: &Change, sent: Sent) -> Outcome {
        let outcome = outcome_of(sent);
        if c.action == Action::Rename && outcome == Outcome::Applied {
            let old = c
                .fields
                .iter()
                .find(|f| f.name == "username")
                .and_then(|f| f.before.clone());
            if let (Some(old), Ok(mut ids)) = (old, self.ids.lock()) {
                ids.remove(&old.to_lowercase());
            }
            if let Some(id) = &c.intranet_id {
                self.set_id(&c.username, id);
            }
        }
        outcome
    }

    /// Link, update, reactivate or block: every change of the phase at once.
    async fn user_changes(&self, items: &[(usize, &Change)]) -> Vec<(usize, Outcome)> {
        let prepared = items
            .iter()
            .map(|(i, c)| ((*i, *c), self.user_change(c)))
            .collect();
        self.send_prepared(prepared)
            .await
            .into_iter()
            .map(|((i, c), sent)| (i, self.user_changed(c, sent)))
            .collect()
    }

    /// The POST of a new account. A manager that is itself created in this run (not yet known)
    /// is left out and returned, to be set once every create is done.
    fn create(&self, c: &Change) -> Result<(Write, Option<String>), Outcome> {
        let mut deferred = None;
        let mut values: Vec<(Field, Option<String>)> = Vec::new();
        for f in &c.fields {
            if f.name == "username" {
                continue;
            }
            let Some(field) = Field::parse(&f.name) else {
                return Err(Outcome::failed(format!(
                    "unknown intranet field `{}`",
                    f.name
                )));
            };
            let mut value = f.after.clone();
            if f.name == "manager" {
                if let Some(name) = value.take() {
                    match self.id_of(&name) {
                        Some(id) => value = Some(id),
                        None => deferred = Some(name),
                    }
                }
            }
            values.push((field, value));
        }
        let pairs: Vec<(Field, Option<&str>)> = values
            .iter()
            .map(|(f, v)| (f.clone(), v.as_deref()))
            .collect();
        let resource = fields::user_resource(&c.username, c.external_id.as_deref(), true, &pairs);
        Ok((Write::Create { resource }, deferred))
    }

    /// Every create of the phase, then the managers that were created in it.
    async fn creates(&self, items: &[(usize, &Change)]) -> Vec<(usize, Outcome)> {
        let prepared = items
            .iter()
            .map(|(i, c)| match self.create(c) {
                Ok((w, deferred)) => ((*i, *c, deferred), Ok(w)),
                Err(o) => ((*i, *c, None), Err(o)),
            })
            .collect();
        let mut r = Vec::new();
        let mut deferred = Vec::new();
        for ((i, c, manager), sent) in self.send_prepared(prepared).await {
            match sent {
                Ok(w) => {
                    let id = w.id.unwrap_or_default();
                    self.set_id(&c.username, &id);
                    match manager {
                        Some(m) => deferred.push((i, id, m)),
                        None => r.push((i, Outcome::Applied)),
                    }
                }
                Err(o) => r.push((i, o)),
            }
        }
        // Made once every create has its id, so that a manager created in this run resolves.
        let mut managers = Vec::new();
        for (i, id, m) in deferred {
            match self.set_manager(&id, &m) {
                Ok(w) => managers.push((i, Ok(w))),
                Err(o) => r.push((i, o)),
            }
        }
        r.extend(
            self.send_prepared(managers)
                .await
                .into_iter()
                .map(|(i, sent)| {
                    let o = match outcome_of(sent) {
                        Outcome::Applied => Outcome::Applied,
                        Outcome::Failed {
                            http_status,
                            detail,
                        } => Outcome::Failed {
                            http_status,
                            detail: format!("created, but setting the manager failed: {detail}"),
                        },
                        Outcome::Stale { detail } => Outcome::Stale {
                            detail: format!("created, but setting the manager: {detail}"),
                        },
                    };
                    (i, o)
                }),
        );
        r
    }

    /// The PATCH that sets a new account's manager.
    fn set_manager(&self, id: &str, manager: &str) -> Result<Write, Outcome> {
        let Some(manager_id) = self.id_of(manager) else {
            return Err(Outcome::failed(format!(
                "created, but manager {manager} has no intranet account"
            )));
        };
        let op = json!({"op": "replace", "path": Field::Enterprise(vec!["manager".into(), "value".into()]).patch_path(), "value": manager_id});
        Ok(self.patch(Endpoint::Users, id, vec![op], None))
    }

    /// One PATCH per group for all of its grants (or revokes) in this phase: the members it
    /// adds or removes (by change index), or the outcome of changes that cannot be made.
    fn role_batch(
        &self,
        group_id: &str,
        planned_etag: Option<&str>,
        items: &[(usize, &Change)],
        out: &mut Vec<(usize, Outcome)>,
    ) -> Option<(Vec<usize>, Write)> {
        let mut members = Vec::new();
        for (i, c) in items {
            let id = c.intranet_id.clone().or_else(|| self.id_of(&c.username));
            match id {
                Some(id) => members.push((*i, id)),
                None => out.push((
                    *i,
                    Outcome::failed(format!(
                        "{} has no intranet account (its create did not apply)",
                        c.username
                    )),
                )),
            }
        }
        let grant = items.first()?.1.action == Action::Grant;
        if members.is_empty() {
            return None;
        }
        let ops = if grant {
            let values: Vec<Value> = members.iter().map(|(_, id)| json!({"value": id})).collect();
            vec![json!({"op": "add", "path": "members", "value": values})]
        } else {
            members
                .iter()
                .map(|(_, id)| json!({"op": "remove", "path": format!("members[value eq \"{}\"]", id.replace('"', "\\\""))}))
                .collect()
        };
        let write = self.patch(Endpoint::Groups, group_id, ops, planned_etag);
        Some((members.into_iter().map(|(i, _)| i).collect(), write))
    }

    /// Grants (or revokes): one write per group, its outcome for each of its changes.
    async fn role_changes(&self, items: Vec<(usize, &Change)>) -> Vec<(usize, Outcome)> {
        let mut by_group: BTreeMap<&str, Vec<(usize, &Change)>> = BTreeMap::new();
        let mut r = Vec::new();
        for (i, c) in items {
            match &c.role {
                Some(role) => by_group
                    .entry(role.group_id.as_str())
                    .or_default()
                    .push((i, c)),
                None => r.push((i, Outcome::failed("a role change without its role"))),
            }
        }
        let mut prepared = Vec::new();
        for (gid, batch) in &by_group {
            let etag = batch[0]
                .1
                .role
                .as_ref()
                .and_then(|r| r.group_etag.as_deref());
            if let Some((members, write)) = self.role_batch(gid, etag, batch, &mut r) {
                prepared.push((members, Ok(write)));
            }
        }
        for (members, sent) in self.send_prepared(prepared).await {
            let o = outcome_of(sent);
            r.extend(members.into_iter().map(|i| (i, o.clone())));
        }
        r
    }
}

/// Carry out `plan`. `observed` is the intranet as read just before (for username → id of
/// managers). Never fails as a whole: every change gets an outcome.
pub async fn apply(
    client: &ScimClient,
    caps: &Capabilities,
    plan: &Plan,
    observed: &IntranetState,
) -> ApplyReport {
    let run = Run {
        client,
        caps,
        ids: Mutex::new(
            observed
                .accounts
                .iter()
                .map(|a| (a.username.to_lowercase(), a.id.clone()))
                .collect(),
        ),
        written: Mutex::new(HashMap::new()),
        down: AtomicBool::new(false),
        no_bulk: AtomicBool::new(false),
    };
    let mut outcomes: Vec<Option<Outcome>> = vec![None; plan.changes.len()];
    let phases = [
        Action::Link,
        Action::Rename,
        Action::Create,
        Action::Update,
        Action::Reactivate,
        Action::Grant,
        Action::Revoke,
        Action::Block,
    ];
    for phase in phases {
        let items: Vec<(usize, &Change)> = plan
            .changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.action == phase)
            .collect();
        if items.is_empty() {
            continue;
        }
        let results: Vec<(usize, Outcome)> = match phase {
            // One at a time, each sent on its own: a rename's target name is free only once the
            // renames before it are done.
            Action::Rename => {
                let mut r = Vec::new();
                for item in items {
                    r.extend(run.user_changes(std::slice::from_ref(&item)).await);
                }
                r
            }
            Action::Create => run.creates(&items).await,
            Action::Grant | Action::Revoke => run.role_changes(items).await,
            _ => run.user_changes(&items).await,
        };
        for (i, o) in results {
            outcomes[i] = Some(o);
        }
    }
    let outcomes = plan
        .changes
        .iter()
        .zip(outcomes)
        .map(|(c, o)| ChangeOutcome {
            change: c.clone(),
            outcome: o.unwrap_or_else(|| Outcome::failed("not attempted")),
        })
        .collect();
    ApplyReport { outcomes }
}

/// What `roster apply` needs besides the config and the plan: passed in, so nothing below reads
/// the clock or the identity of the runner itself.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Where the audit report goes (`audit/` next to the config, by default).
    pub audit_dir: std::path::PathBuf,
    /// Write the report without committing it.
    pub no_commit: bool,
    pub now: std::time::SystemTime,
    /// `User name` in the audit report.
    pub runner: String,
    /// Commit author; `None`: git config.
    pub author: Option<crate::audit::Author>,
    /// Whether the freshness re-read of the intranet may use the cache (`--refresh`).
    pub refresh: crate::intranet::cache::Refresh,
}

/// The result of `apply_saved`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub report: ApplyReport,
    pub audit: crate::audit::AuditFiles,
}

/// `roster apply PLAN`: connect, refuse a stale plan (config digest, and a fresh plan from the
/// directory and intranet now), carry out the saved plan, and write (and commit) the audit
/// report, also when the apply was partial. Errors before any write are diagnostics
/// ([`StalePlan`] → [`crate::exit::STALE`], others → [`crate::exit::ERROR`]); after that, the report's
/// [`ApplyReport::exit_code`] says how it went.
pub async fn apply_saved(
    cfg: &crate::config::Loaded,
    saved: &Plan,
    opts: &ApplyOptions,
) -> miette::Result<Applied> {
    use crate::intranet::scim;
    check_figures(saved)?;
    let (live, observed) = tokio::try_join!(
        async { Ok::<_, miette::Report>(scim::connect(cfg).await?) },
        crate::observe::observe_for(cfg, &[], opts.refresh),
    )?;
    let fresh = crate::reconcile::plan(cfg, &observed)?;
    check_fresh(saved, &cfg.digest, &fresh)?;
    // The policy holds at apply time too, whatever the file says: on the plan made fresh now
    // (its counts and licence use derived from what was read, never the file's figures; its
    // changes are the saved plan's, as `check_fresh` just made sure), with the one-run
    // allowances the saved plan recorded.
    let checked = Plan {
        allowances: saved.allowances.clone(),
        ..fresh
    };
    crate::policy::check(
        &checked,
        &cfg.config,
        &observed.directory,
        &observed.intranet,
    )?;
    let report = apply(&live.client, &live.caps, saved, &observed.intranet).await;

    // The state file (last-applied values) goes into the audit commit with the report.
    let not_applied: std::collections::HashSet<usize> = report
        .outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.outcome != Outcome::Applied)
        .map(|(i, _)| i)
        .collect();
    let fields = scim::mapped_fields(cfg);
    let state = crate::state::after_apply(
        observed.state.as_ref(),
        &observed.intranet,
        saved,
        &not_applied,
        &fields,
    );
    let state_path = cfg.state_path();
    if let Err(e) = std::fs::write(&state_path, crate::state::render(&state)) {
        print_outcomes(&report);
        return Err(crate::audit::write_error(&state_path, e).into());
    }

    let identity = match live.client.whoami().await {
        Some(name) => name,
        None => format!(
            "scim-token@{}",
            live.client.base_url().host_str().unwrap_or("intranet")
        ),
    };
    let ctx = crate::audit::AuditContext {
        now: opts.now,
        runner: opts.runner.clone(),
        scim_identity: identity,
        address: scim::local_address_for(live.client.base_url())
            .map_or_else(|| "unknown".into(), |ip| ip.to_string()),
    };
    let audit = crate::audit::write_report(
        &opts.audit_dir,
        saved,
        &report,
        &ctx,
        opts.author.as_ref(),
        opts.no_commit,
        &[state_path],
    );
    match audit {
        Ok(audit) => Ok(Applied { report, audit }),
        Err(e) => {
            // The writes happened: the record of them must not be lost with the report.
            print_outcomes(&report);
            Err(e.into())
        }
    }
}

/// Every outcome on stderr, one line each: the last record when the audit report could not be
/// written.
fn print_outcomes(report: &ApplyReport) {
    eprintln!("The audit report could not be written; what was done:");
    for o in &report.outcomes {
        eprintln!(
            "  {} {} {}: {}",
            o.outcome.name(),
            o.change.action.name(),
            o.change.username,
            o.outcome.describe()
        );
    }
}
