//! The intranet side behind one seam: the [`IntranetTarget`] interface that `observe` reads
//! through and the apply executor writes through, and its implementations: the live SCIM
//! service ([`scim`], read through its delta cache), a snapshot file ([`snapshot`], read only)
//! and an intranet in memory ([`memory`]). [`target_of`] gives the target a config names; the
//! SCIM field vocabulary ([`fields`]) is shared by all.
//!
//! The executor ([`crate::apply`]) decides what to write, in which order, how many at once, and
//! what became of each change; a target only carries out [`WriteOp`]s, in its own protocol, and
//! says how each ended. Batching (SCIM Bulk) is the target's business: the executor asks it how
//! to group a list of writes ([`IntranetTarget::batches`]) and hands it each group.

pub mod fields;
pub mod memory;
pub mod scim;
pub mod snapshot;

use crate::config::Loaded;
use crate::model::IntranetState;
use crate::plan::{FieldChange, IntranetRead};
use crate::report::Outcome;
use scim::cache::CacheSettings;
use scim::target::ScimTarget;
use snapshot::SnapshotTarget;

/// One write to the intranet, in the model's terms (no protocol): what the executor asks a
/// target to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// A new account, active. `fields`: intranet field name → value; `manager` holds the
    /// manager's intranet id. `username` is not among them.
    Create {
        username: String,
        external_id: Option<String>,
        fields: Vec<(String, Option<String>)>,
    },
    /// Changes to the account `id`, which must still have the ETag `if_match` when one is given.
    User {
        id: String,
        if_match: Option<String>,
        edits: UserEdits,
    },
    /// Members (account ids) added to, or removed from, the group `group_id`.
    Members {
        group_id: String,
        if_match: Option<String>,
        add: bool,
        members: Vec<String>,
    },
}

/// What a [`WriteOp::User`] changes: the immutable ID (a link), the active flag, and fields
/// (`username` is a rename; `manager` holds the manager's intranet id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserEdits {
    pub external_id: Option<String>,
    pub active: Option<bool>,
    pub fields: Vec<FieldChange>,
}

impl UserEdits {
    pub fn is_empty(&self) -> bool {
        self.external_id.is_none() && self.active.is_none() && self.fields.is_empty()
    }
}

/// A successful write: the resource's id (known for creates) and its new ETag, if the target
/// gave one; and the fields it was sent that the resource it answered with does not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub id: Option<String>,
    pub etag: Option<String>,
    /// Fields sent with a value that the resource the target answered with lacks (the target
    /// dropped them). Empty when the answer carried no resource to compare with.
    pub not_stored: Vec<crate::report::NotStored>,
}

/// A write's result: what the target answered, or the outcome of a write that did not happen.
pub type Sent = Result<Written, Outcome>;

/// How a list of writes is sent: ranges of indices into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    /// One write, on its own.
    Single(usize),
    /// These writes, together in one request (SCIM: a Bulk request).
    Bulk(std::ops::Range<usize>),
}

/// A batch of writes that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchFailed {
    /// Refused before any of its writes ran: each may be sent again on its own.
    Refused,
    /// Failed after it may have reached the target: none is sent again; each ends so.
    Failed(Outcome),
}

/// What a target read: the intranet, and how a live service was read (in full or as a delta
/// through the cache), which the plan records; `None` for a file or an intranet in memory.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub state: IntranetState,
    pub read: Option<IntranetRead>,
}

/// The intranet `observe` reads and `apply` writes: the live SCIM service
/// ([`scim::target::ScimTarget`]), a snapshot file ([`snapshot::SnapshotTarget`], whose writes
/// all refuse) or an intranet in memory ([`memory::MemoryTarget`]). Reads accounts and groups;
/// carries out writes, each with its outcome. Used generically (`apply::<T>`), so `async fn` is
/// fine here.
#[allow(async_fn_in_trait)]
pub trait IntranetTarget {
    /// The accounts and groups as they are now (`manager` as the manager's username), and how
    /// they were read.
    async fn read(&self) -> miette::Result<Reading>;

    /// Whether writes carry `If-Match` (the target keeps ETags and refuses a stale one).
    fn etags(&self) -> bool;

    /// How many requests may be in flight at once.
    fn concurrency(&self) -> usize {
        1
    }

    /// Why no write may start any more (the target became unreachable), once that is so.
    fn unavailable(&self) -> Option<Outcome> {
        None
    }

    /// Whether the target can carry out `write` at all (a field it has no place for): checked
    /// before anything is sent, so that a write that cannot be made is never sent.
    fn check(&self, write: &WriteOp) -> Result<(), Outcome> {
        let _ = write;
        Ok(())
    }

    /// How to send `writes`: each on its own, unless the target groups them.
    fn batches(&self, writes: &[WriteOp]) -> Vec<Batch> {
        (0..writes.len()).map(Batch::Single).collect()
    }

    /// Carry out one write.
    async fn write(&self, write: &WriteOp) -> Sent;

    /// Carry out `writes[range]` together: one result per write, in order, or the failure of
    /// the batch as a whole. Only called for the [`Batch::Bulk`] ranges of
    /// [`IntranetTarget::batches`].
    async fn write_batch(
        &self,
        writes: &[WriteOp],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Sent>, BatchFailed> {
        let _ = (writes, range);
        Err(BatchFailed::Refused)
    }
}

/// The intranet a config names, one variant per kind of target under `intranet:`.
pub enum Intranet {
    /// `intranet.scim`: the live service, connected and discovered.
    Scim(Box<ScimTarget>),
    /// `intranet.snapshot`: a file, read only.
    Snapshot(SnapshotTarget),
}

/// The target `cfg` names, reading the intranet `fields`: the SCIM service connected and
/// discovered (with what the mapped fields need), its reads through the cache as `cache`
/// allows; or the snapshot file, resolved from the config's folder.
pub async fn target_of(
    cfg: &Loaded,
    fields: &[String],
    cache: CacheSettings,
) -> miette::Result<Intranet> {
    if let Some(path) = &cfg.config.intranet.snapshot {
        let target = SnapshotTarget::new(cfg.resolve(path), fields.to_vec());
        return Ok(Intranet::Snapshot(target));
    }
    let live = scim::connect(cfg).await?;
    let target = ScimTarget::new(live.client, live.caps, fields.to_vec()).with_cache(cache);
    Ok(Intranet::Scim(Box::new(target)))
}

/// `$body` with `$t` bound to whichever target `$intranet` holds.
macro_rules! each {
    ($intranet:expr, $t:ident => $body:expr) => {
        match $intranet {
            Intranet::Scim($t) => $body,
            Intranet::Snapshot($t) => $body,
        }
    };
}

impl IntranetTarget for Intranet {
    async fn read(&self) -> miette::Result<Reading> {
        each!(self, t => t.read().await)
    }

    fn etags(&self) -> bool {
        each!(self, t => t.etags())
    }

    fn concurrency(&self) -> usize {
        each!(self, t => t.concurrency())
    }

    fn unavailable(&self) -> Option<Outcome> {
        each!(self, t => t.unavailable())
    }

    fn check(&self, write: &WriteOp) -> Result<(), Outcome> {
        each!(self, t => t.check(write))
    }

    fn batches(&self, writes: &[WriteOp]) -> Vec<Batch> {
        each!(self, t => t.batches(writes))
    }

    async fn write(&self, write: &WriteOp) -> Sent {
        each!(self, t => t.write(write).await)
    }

    async fn write_batch(
        &self,
        writes: &[WriteOp],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Sent>, BatchFailed> {
        each!(self, t => t.write_batch(writes, range).await)
    }
}
