//! Apply: an executor that carries out a `Plan` through an [`IntranetTarget`] (the SCIM service,
//! or the intranet in memory) and records what became of each change. The only writer. A target
//! creates accounts, edits them and changes group members; there is no way to delete.
//!
//! The executor is target-independent: it orders the changes, bounds how many writes are in
//! flight (the target's `concurrency`), stops at an interruption, keeps the username → id
//! bookkeeping of creates and renames, carries the ETags (`If-Match`, when the target has
//! them), and gives every change its outcome. The target does the protocol.
//!
//! Order, safe when interrupted (each phase finishes before the next starts): links, renames
//! (one at a time, in the plan's dependency order, so a target name is free when its rename
//! runs), creates, updates, reactivations, grants, revokes, blocks. Within a phase, changes run
//! concurrently up to the target's `concurrency`. A new account's id is known before the grants
//! that need it, since grants are a later phase (no `bulkId` references are needed). A manager
//! that is created, or renamed onto its username, later in the run than the change naming it
//! (a create, link or rename) is set once every create is done.
//!
//! When the service announces SCIM Bulk (RFC 7644 §3.7) and `intranet.scim.bulk.enabled` is on,
//! the writes of a phase (but renames, sent one at a time) go as Bulk requests, batched by the
//! SCIM target ([`crate::intranet::scim::ScimClient::batches`]); each operation still gets its
//! own outcome. No `failOnErrors` is sent, so the service goes on past a failed operation as
//! apply goes on past a failed change. A Bulk request refused as a whole before any operation ran (404, 405, 413,
//! 501) is resent as single requests, and the rest of the run does without Bulk; one that failed
//! otherwise is resent only where the client's retry rules make it safe, and then each of its
//! changes is failed, never resent (see [`crate::intranet::scim::ScimClient::bulk`]).
//!
//! Every write carries `If-Match` with the plan's ETag when the service supports ETags (in a
//! Bulk request: the operation's `version`, which acts the same); after Roster's own write to a
//! resource, the ETag the server answered with is used for the next write to it. A 412 marks the
//! change `stale`; the run goes on. Once the service is unreachable, the changes not yet tried
//! are marked failed without trying them.
//!
//! A write the target answered with the resource (a SCIM POST, a PATCH `200` with a body) says
//! which fields it was sent that the resource lacks ([`crate::intranet::Written::not_stored`]):
//! the change is applied, with those fields named in its [`ChangeOutcome::not_stored`], and the
//! apply is not complete. A write answered without a resource (a PATCH `204`, a Bulk operation)
//! gives nothing to compare: its fields are taken as stored.
//!
//! On SIGINT or SIGTERM ([`Interrupt`]) no write starts any more (those changes end
//! `not_started`); writes in flight are waited for, at most the SCIM timeout; a second signal
//! stops waiting (those end `unknown`). The audit report and state file are written and
//! committed all the same (by the apply command, [`crate::commands::apply`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};

use crate::intranet::{Batch, BatchFailed, IntranetTarget, Sent, UserEdits, WriteOp};
use crate::model::IntranetState;
use crate::plan::{Action, Change, FieldChange, Plan};
pub use crate::report::{ApplyReport, ChangeOutcome, NotStored, Outcome};

/// SIGINT or SIGTERM during an apply, as the executor sees it. The first signal stops new
/// writes from starting and lets those in flight finish (for a bounded time); a second stops
/// waiting for them. Cloned handles share one state; the CLI's signal listener calls
/// [`Interrupt::signal`].
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    inner: std::sync::Arc<InterruptState>,
}

#[derive(Debug, Default)]
struct InterruptState {
    signals: std::sync::atomic::AtomicUsize,
    /// When the first signal came, and its name.
    first: Mutex<Option<(std::time::Instant, String)>>,
    notify: tokio::sync::Notify,
}

impl Interrupt {
    /// A signal arrived (`name`: `SIGINT`, `SIGTERM`). Returns how many have arrived.
    pub fn signal(&self, name: &str) -> usize {
        if let Ok(mut first) = self.inner.first.lock() {
            first.get_or_insert_with(|| (std::time::Instant::now(), name.to_string()));
        }
        let n = self.inner.signals.fetch_add(1, Ordering::SeqCst) + 1;
        self.inner.notify.notify_waiters();
        n
    }

    /// At least one signal arrived: no new write may start.
    pub fn stopping(&self) -> bool {
        self.inner.signals.load(Ordering::SeqCst) > 0
    }

    /// The name of the first signal, once one arrived.
    pub fn signal_name(&self) -> Option<String> {
        let first = self.inner.first.lock().ok()?;
        first.as_ref().map(|(_, name)| name.clone())
    }

    /// Resolves at the first signal.
    pub async fn signalled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.stopping() {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once writes in flight are no longer waited for: at a second signal, or `grace`
    /// after the first.
    async fn abandoned(&self, grace: std::time::Duration) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let since = self
                .inner
                .first
                .lock()
                .ok()
                .and_then(|f| f.as_ref().map(|(at, _)| *at));
            match (self.inner.signals.load(Ordering::SeqCst), since) {
                (0, _) | (_, None) => notified.await,
                (1, Some(at)) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until((at + grace).into()) => return,
                    }
                }
                _ => return,
            }
        }
    }
}

/// Shared state of one run.
struct Run<'a, T> {
    target: &'a T,
    /// Lowercased username → intranet id, from the intranet as read plus creates and renames.
    ids: Mutex<HashMap<String, String>>,
    /// Intranet id → ETag after Roster's own write (`None`: written, ETag unknown).
    written: Mutex<HashMap<String, Option<String>>>,
    /// Links and renames applied without their manager, not known yet when they ran: (change
    /// index, account id, manager's username), set after the creates.
    later_managers: Mutex<Vec<(usize, String, String)>>,
    /// The usernames (as compared) that renames of the plan move away from.
    /// Removed as each rename applies.
    renamed_from: Mutex<std::collections::HashSet<String>>,
    /// Change index → the fields its write sent that the service answered without (see
    /// [`crate::intranet::Written::not_stored`]).
    not_stored: Mutex<HashMap<usize, Vec<NotStored>>>,
    interrupt: &'a Interrupt,
    /// How long writes in flight are waited for after the first signal.
    grace: std::time::Duration,
    /// Changes written of the plan's, on a terminal.
    progress: crate::progress::Progress,
}

fn outcome_of(sent: Sent) -> Outcome {
    sent.map_or_else(|o| o, |_| Outcome::Applied)
}

impl<T: IntranetTarget> Run<'_, T> {
    fn id_of(&self, username: &str) -> Option<String> {
        self.ids
            .lock()
            .ok()?
            .get(crate::text::username_key(username).as_ref())
            .cloned()
    }

    fn set_id(&self, username: &str, id: &str) {
        if let Ok(mut ids) = self.ids.lock() {
            ids.insert(
                crate::text::username_key(username).into_owned(),
                id.to_string(),
            );
        }
    }

    /// The `If-Match` for a write to `id`: the ETag of Roster's last write to it, else the plan's.
    fn if_match(&self, id: &str, planned: Option<&str>) -> Option<String> {
        if !self.target.etags() {
            return None;
        }
        match self.written.lock().ok().and_then(|w| w.get(id).cloned()) {
            Some(after_our_write) => after_our_write,
            None => planned.map(String::from),
        }
    }

    /// The id of the account `name` names, to set as someone's manager: not while the account
    /// holding the name is still to be renamed away from it (a rename of this plan that has not
    /// applied), since that is not the manager.
    fn manager_id(&self, name: &str) -> Result<String, String> {
        let key = crate::text::username_key(name);
        let renaming_away = self
            .renamed_from
            .lock()
            .is_ok_and(|r| r.contains(key.as_ref()));
        if renaming_away {
            return Err(format!(
                "manager {name}: the username is still held by the account this plan renames \
                 away from it (that rename did not apply)"
            ));
        }
        self.id_of(name)
            .ok_or_else(|| format!("manager {name} has no intranet account"))
    }

    /// Why a write must not start: the apply was interrupted, or the target is unreachable.
    fn skipped(&self) -> Option<Outcome> {
        if self.interrupt.stopping() {
            return Some(Outcome::not_started());
        }
        self.target.unavailable()
    }

    /// A request in flight, waited for until the interrupt gives up on it (`None`).
    async fn in_flight<R>(&self, request: impl std::future::Future<Output = R>) -> Option<R> {
        tokio::select! {
            biased;
            answer = request => Some(answer),
            _ = self.interrupt.abandoned(self.grace) => None,
        }
    }

    /// A write's result, recorded (the ETag after Roster's own write).
    fn settle(&self, sent: Sent) -> Sent {
        if let Ok(w) = &sent {
            if let (Some(id), Ok(mut written)) = (&w.id, self.written.lock()) {
                written.insert(id.clone(), w.etag.clone());
            }
        }
        sent
    }

    async fn send_one(&self, write: &WriteOp) -> Sent {
        if let Some(o) = self.skipped() {
            return Err(o);
        }
        match self.in_flight(self.target.write(write)).await {
            Some(answer) => self.settle(answer),
            None => Err(Outcome::unknown()),
        }
    }

    /// Send every write, each on its own or together with others (as the target batches them);
    /// one result per write, in order. Batches run concurrently up to the target's
    /// `concurrency`, and start in order, so that once the target is unreachable the ones not
    /// yet started are not tried. They finish in any order: a slow one (a connection the
    /// service dropped, retried a second later) does not hold back the start of the next.
    async fn send(&self, writes: &[WriteOp]) -> Vec<Sent> {
        let batches = self.target.batches(writes);
        let done: Vec<Vec<(usize, Sent)>> = stream::iter(batches)
            .map(|batch| self.send_batch(writes, batch))
            .buffer_unordered(self.target.concurrency().max(1))
            .inspect(|done| self.progress.add(done.len()))
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

    async fn send_batch(&self, writes: &[WriteOp], batch: Batch) -> Vec<(usize, Sent)> {
        let range = match batch {
            Batch::Single(i) => return vec![(i, self.send_one(&writes[i]).await)],
            Batch::Bulk(range) => range,
        };
        if let Some(o) = self.skipped() {
            return range.map(|i| (i, Err(o.clone()))).collect();
        }
        let Some(answer) = self
            .in_flight(self.target.write_batch(writes, range.clone()))
            .await
        else {
            return range.map(|i| (i, Err(Outcome::unknown()))).collect();
        };
        match answer {
            Ok(answers) => range
                .zip(answers)
                .map(|(i, a)| (i, self.settle(a)))
                .collect(),
            // Refused before any write ran: nothing was written, so each goes again on its own.
            Err(BatchFailed::Refused) => {
                join_all(range.map(|i| async move { (i, self.send_one(&writes[i]).await) })).await
            }
            // Failed as a whole after it may have reached the target: some of its writes may
            // have run, so none is sent again; each is reported so, and the next plan shows
            // what is left.
            Err(BatchFailed::Failed(o)) => range.map(|i| (i, Err(o.clone()))).collect(),
        }
    }

    /// Send the writes of `prepared` (those that could be made, and that the target can carry
    /// out), and pair each key with its result.
    async fn send_prepared<K>(
        &self,
        prepared: Vec<(K, Result<WriteOp, Outcome>)>,
    ) -> Vec<(K, Sent)> {
        let mut writes = Vec::new();
        let keys: Vec<(K, Option<Outcome>)> = prepared
            .into_iter()
            .map(
                |(k, p)| match p.and_then(|w| self.target.check(&w).map(|()| w)) {
                    Ok(w) => {
                        writes.push(w);
                        (k, None)
                    }
                    Err(o) => (k, Some(o)),
                },
            )
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

    /// Note the fields the service did not store of change `i`'s write.
    fn note_not_stored(&self, i: usize, sent: &Sent) {
        if let (Ok(w), Ok(mut not_stored)) = (sent, self.not_stored.lock()) {
            if !w.not_stored.is_empty() {
                not_stored.insert(i, w.not_stored.clone());
            }
        }
    }

    /// Field changes with `manager` turned from the plan's username into the manager's id.
    fn resolve_fields(&self, fields: &[FieldChange]) -> Result<Vec<FieldChange>, String> {
        fields
            .iter()
            .map(|f| {
                let mut f = f.clone();
                if f.name == "manager" {
                    if let Some(name) = &f.after {
                        f.after = Some(self.manager_id(name)?);
                    }
                }
                Ok(f)
            })
            .collect()
    }

    /// The write of a link, rename, update, reactivation or block. A link or rename runs before
    /// the creates and the other renames: a manager not known yet (created or renamed later in
    /// this run) is left out and returned, to be set once every create is done.
    fn user_change(&self, c: &Change) -> Result<(WriteOp, Option<String>), Outcome> {
        let Some(id) = c.intranet_id.as_deref() else {
            return Err(Outcome::failed(
                "the plan gives no intranet id for this account",
            ));
        };
        let mut deferred = None;
        let edits = match c.action {
            Action::Reactivate => UserEdits {
                active: Some(true),
                ..UserEdits::default()
            },
            Action::Block => UserEdits {
                active: Some(false),
                ..UserEdits::default()
            },
            Action::Rename | Action::Update | Action::Link => {
                let mut fields = c.fields.clone();
                if matches!(c.action, Action::Link | Action::Rename) {
                    let later = fields.iter().position(|f| {
                        f.name == "manager"
                            && f.after
                                .as_deref()
                                .is_some_and(|m| self.manager_id(m).is_err())
                    });
                    deferred = later.and_then(|k| fields.remove(k).after);
                }
                let fields = self.resolve_fields(&fields).map_err(Outcome::failed)?;
                let external_id = if c.action == Action::Link {
                    let Some(ext) = &c.external_id else {
                        return Err(Outcome::failed("a link needs the directory's immutable ID"));
                    };
                    Some(ext.clone())
                } else {
                    None
                };
                UserEdits {
                    external_id,
                    active: None,
                    fields,
                }
            }
            Action::Create | Action::Grant | Action::Revoke => {
                return Err(Outcome::failed("not a change to an existing account"));
            }
        };
        if edits.is_empty() {
            return Err(Outcome::failed("no SCIM operation for these field changes"));
        }
        let write = WriteOp::User {
            id: id.to_string(),
            if_match: self.if_match(id, c.etag.as_deref()),
            edits,
        };
        Ok((write, deferred))
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
            if let Some(old) = old {
                let old = crate::text::username_key(&old);
                if let Ok(mut ids) = self.ids.lock() {
                    ids.remove(old.as_ref());
                }
                if let Ok(mut renamed_from) = self.renamed_from.lock() {
                    renamed_from.remove(old.as_ref());
                }
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
            .map(|(i, c)| match self.user_change(c) {
                Ok((w, manager)) => ((*i, *c, manager), Ok(w)),
                Err(o) => ((*i, *c, None), Err(o)),
            })
            .collect();
        let mut r = Vec::new();
        for ((i, c, manager), sent) in self.send_prepared(prepared).await {
            self.note_not_stored(i, &sent);
            let o = self.user_changed(c, sent);
            match (&o, manager, &c.intranet_id) {
                (Outcome::Applied, Some(m), Some(id)) => {
                    if let Ok(mut later) = self.later_managers.lock() {
                        later.push((i, id.clone(), m));
                    }
                }
                _ => r.push((i, o)),
            }
        }
        r
    }

    /// The managers of links and renames that were not known when they ran, now that every
    /// create is done.
    async fn set_later_managers(&self) -> Vec<(usize, Outcome)> {
        let later = match self.later_managers.lock() {
            Ok(mut later) => std::mem::take(&mut *later),
            Err(_) => Vec::new(),
        };
        self.set_managers(later, "changed").await
    }

    /// The write of a new account. A manager that is itself created in this run (not yet known)
    /// is left out and returned, to be set once every create is done.
    fn create(&self, c: &Change) -> (WriteOp, Option<String>) {
        let mut deferred = None;
        let mut values = Vec::new();
        for f in &c.fields {
            if f.name == "username" {
                continue;
            }
            let mut value = f.after.clone();
            if f.name == "manager" {
                if let Some(name) = value.take() {
                    match self.manager_id(&name) {
                        Ok(id) => value = Some(id),
                        Err(_) => deferred = Some(name),
                    }
                }
            }
            values.push((f.name.clone(), value));
        }
        let write = WriteOp::Create {
            username: c.username.clone(),
            external_id: c.external_id.clone(),
            fields: values,
        };
        (write, deferred)
    }

    /// Every create of the phase, then the managers that were created in it.
    async fn creates(&self, items: &[(usize, &Change)]) -> Vec<(usize, Outcome)> {
        let prepared = items
            .iter()
            .map(|(i, c)| {
                let (w, deferred) = self.create(c);
                ((*i, *c, deferred), Ok(w))
            })
            .collect();
        let mut r = Vec::new();
        let mut deferred = Vec::new();
        for ((i, c, manager), sent) in self.send_prepared(prepared).await {
            self.note_not_stored(i, &sent);
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
        r.extend(self.set_managers(deferred, "created").await);
        r
    }

    /// Set the manager of each account `(change index, account id, manager's username)` whose
    /// change already applied (`done`: `created`, `changed`): the outcome of each change.
    async fn set_managers(
        &self,
        pending: Vec<(usize, String, String)>,
        done: &str,
    ) -> Vec<(usize, Outcome)> {
        let mut r = Vec::new();
        let mut managers = Vec::new();
        for (i, id, m) in pending {
            match self.set_manager(&id, &m, done) {
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
                            detail: format!("{done}, but setting the manager failed: {detail}"),
                        },
                        Outcome::Stale { detail } => Outcome::Stale {
                            detail: format!("{done}, but setting the manager: {detail}"),
                        },
                        // The account was written: the change is not "not started".
                        Outcome::NotStarted { detail } => Outcome::Failed {
                            http_status: None,
                            detail: format!(
                                "{done}, but setting the manager was not started ({detail})"
                            ),
                        },
                        Outcome::Unknown { detail } => Outcome::Unknown {
                            detail: format!("{done}; setting the manager: {detail}"),
                        },
                    };
                    (i, o)
                }),
        );
        r
    }

    /// The write that sets a new account's manager.
    fn set_manager(&self, id: &str, manager: &str, done: &str) -> Result<WriteOp, Outcome> {
        let manager_id = self
            .manager_id(manager)
            .map_err(|e| Outcome::failed(format!("{done}, but {e}")))?;
        Ok(WriteOp::User {
            id: id.to_string(),
            if_match: None,
            edits: UserEdits {
                fields: vec![FieldChange::new("manager", None, Some(manager_id))],
                ..UserEdits::default()
            },
        })
    }

    /// One write per group for all of its grants (or revokes) in this phase: the members it
    /// adds or removes (by change index), or the outcome of changes that cannot be made.
    fn role_batch(
        &self,
        group_id: &str,
        planned_etag: Option<&str>,
        items: &[(usize, &Change)],
        out: &mut Vec<(usize, Outcome)>,
    ) -> Option<(Vec<usize>, WriteOp)> {
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
        let add = items.first()?.1.action == Action::Grant;
        if members.is_empty() {
            return None;
        }
        let (indices, ids) = members.into_iter().unzip();
        let write = WriteOp::Members {
            group_id: group_id.to_string(),
            if_match: self.if_match(group_id, planned_etag),
            add,
            members: ids,
        };
        Some((indices, write))
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
pub async fn apply<T: IntranetTarget>(
    target: &T,
    plan: &Plan,
    observed: &IntranetState,
) -> ApplyReport {
    let never = Interrupt::default();
    apply_interruptible(target, plan, observed, &never, std::time::Duration::ZERO).await
}

/// [`apply`], stopping at `interrupt`: once it is signalled no write starts (the changes not
/// started are marked so), writes in flight are waited for up to `grace` after the first
/// signal, and not at all after a second (their outcome is unknown).
pub async fn apply_interruptible<T: IntranetTarget>(
    target: &T,
    plan: &Plan,
    observed: &IntranetState,
    interrupt: &Interrupt,
    grace: std::time::Duration,
) -> ApplyReport {
    let run = Run {
        interrupt,
        grace,
        progress: crate::progress::Progress::new(
            "applying the plan",
            ("change", "changes"),
            plan.changes.len(),
        ),
        target,
        ids: Mutex::new(
            observed
                .accounts
                .iter()
                .map(|a| {
                    (
                        crate::text::username_key(&a.username).into_owned(),
                        a.id.clone(),
                    )
                })
                .collect(),
        ),
        written: Mutex::new(HashMap::new()),
        not_stored: Mutex::new(HashMap::new()),
        later_managers: Mutex::new(Vec::new()),
        renamed_from: Mutex::new(
            plan.changes
                .iter()
                .filter(|c| c.action == Action::Rename)
                .filter_map(|c| {
                    c.fields
                        .iter()
                        .find(|f| f.name == "username")?
                        .before
                        .as_deref()
                })
                .map(|old| crate::text::username_key(old).into_owned())
                .collect(),
        ),
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
        // Once every create is done: the managers links and renames could not name yet.
        if phase == Action::Update {
            for (i, o) in run.set_later_managers().await {
                outcomes[i] = Some(o);
            }
        }
        let items: Vec<(usize, &Change)> = plan
            .changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.action == phase)
            .collect();
        if items.is_empty() {
            continue;
        }
        if interrupt.stopping() {
            for (i, _) in items {
                outcomes[i] = Some(Outcome::not_started());
            }
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
        // Changes with no write of their own (refused before sending, grouped role changes).
        run.progress
            .reach(outcomes.iter().filter(|o| o.is_some()).count());
    }
    let mut not_stored = run.not_stored.into_inner().unwrap_or_default();
    let outcomes = plan
        .changes
        .iter()
        .zip(outcomes)
        .enumerate()
        .map(|(i, (c, o))| {
            let outcome = o.unwrap_or_else(|| Outcome::failed("not attempted"));
            ChangeOutcome {
                change: c.clone(),
                // Only said of a change that applied (not one whose manager failed after).
                not_stored: match outcome {
                    Outcome::Applied => not_stored.remove(&i).unwrap_or_default(),
                    _ => Vec::new(),
                },
                outcome,
            }
        })
        .collect();
    ApplyReport {
        outcomes,
        writes: None,
    }
}

/// The intranet `before`, with the changes of `plan` carried out but those in `not_applied`:
/// the same executor run against the intranet in memory (without `If-Match`: the service
/// already judged the ETags).
pub async fn carried_out(
    before: &IntranetState,
    plan: &Plan,
    not_applied: &std::collections::HashSet<usize>,
) -> IntranetState {
    let applied = Plan {
        changes: plan
            .changes
            .iter()
            .enumerate()
            .filter(|(i, _)| !not_applied.contains(i))
            .map(|(_, c)| c.clone())
            .collect(),
        ..plan.clone()
    };
    let memory = crate::intranet::memory::MemoryTarget::new(before.clone()).without_etags();
    apply(&memory, &applied, before).await;
    memory.state()
}
