//! Observe: read the directory source and the intranet target the config names (snapshots or
//! live servers) into the source-neutral model, with digests of what was read. Which kind each
//! side is stays behind its seam ([`crate::directory::DirectorySource`],
//! [`crate::intranet::target_of`]).

use crate::config::Loaded;
use crate::intranet::scim::cache::{CacheSettings, Refresh};
use crate::intranet::{Intranet, IntranetTarget, Reading};
use crate::model::{DirectoryState, IntranetState};
use crate::plan::{Inputs, IntranetRead};

/// Both sides as read, and the digests a plan records.
#[derive(Debug, Clone)]
pub struct Observed {
    pub directory: DirectoryState,
    pub intranet: IntranetState,
    /// The last-applied field values (`None` before the first apply).
    pub state: Option<crate::state::State>,
    /// `sha256:` digests of what was read from each side.
    pub directory_digest: String,
    pub intranet_digest: String,
    /// How a live intranet was read (`None` for a snapshot file).
    pub intranet_read: Option<IntranetRead>,
}

impl Observed {
    /// The inputs a plan of `cfg` against this read records.
    pub fn inputs(&self, cfg: &Loaded) -> Inputs {
        Inputs {
            config: cfg.digest.clone(),
            directory: self.directory_digest.clone(),
            intranet: self.intranet_digest.clone(),
            config_revision: cfg.revision.clone(),
            intranet_read: self.intranet_read.clone(),
        }
    }
}

/// Read the directory side; a live read asks for the user `attributes` the mappings need.
pub async fn directory(cfg: &Loaded, attributes: &[String]) -> miette::Result<DirectoryState> {
    crate::directory::DirectorySource::of(cfg)
        .read(attributes)
        .await
}

/// The user attributes the mappings read (the live source adds the ID, username, disabled marker
/// and objectClass itself).
pub fn directory_attributes(config: &crate::config::Config) -> Vec<String> {
    let mut attrs: Vec<String> = Vec::new();
    for m in config.field_mappings.values() {
        if let Ok(t) = crate::reconcile::mapping::Template::parse(m) {
            attrs.extend(t.attributes().map(str::to_owned));
        }
    }
    attrs.sort_by_key(|a| a.to_ascii_lowercase());
    attrs.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    attrs
}

/// Read the intranet side, with the values of `fields`, in full (no cache).
pub async fn intranet(cfg: &Loaded, fields: &[String]) -> miette::Result<IntranetState> {
    let target = crate::intranet::target_of(cfg, fields, CacheSettings::default()).await?;
    Ok(target.read().await?.state)
}

/// Read both sides, as `cfg` says (the intranet through its cache, `--refresh=auto`).
pub async fn observe(cfg: &Loaded) -> miette::Result<Observed> {
    observe_for(cfg, &[], Refresh::Auto).await
}

/// Read both sides once, as `cfg` says, with what `others` need too (`plan --base` plans two
/// configs against one read). `refresh` says whether a live intranet read may use the cache.
pub async fn observe_for(
    cfg: &Loaded,
    others: &[&Loaded],
    refresh: Refresh,
) -> miette::Result<Observed> {
    let target = target_for(cfg, others, refresh);
    Ok(observe_through(cfg, others, refresh, target).await?.0)
}

/// The intranet target `cfg` names, reading the fields `cfg` and `others` map, through the
/// cache as `refresh` and the config allow. A future: [`observe_through`] runs it while the
/// directory is read.
pub async fn target_for(
    cfg: &Loaded,
    others: &[&Loaded],
    refresh: Refresh,
) -> miette::Result<Intranet> {
    let mut fields = crate::intranet::scim::mapped_fields(cfg);
    for o in others {
        fields.extend(crate::intranet::scim::mapped_fields(o));
    }
    fields.sort();
    fields.dedup();
    let settings = CacheSettings::for_config(cfg, refresh);
    crate::intranet::target_of(cfg, &fields, settings).await
}

/// Read both sides once: the directory `cfg` names, with the attributes `cfg` maps (and, where
/// the directory has them, those only `others` map), and the intranet through the target
/// `target` gives (connected while the directory is read). Returns the target too: `apply`
/// writes through the one it read.
pub async fn observe_through<T: IntranetTarget>(
    cfg: &Loaded,
    others: &[&Loaded],
    refresh: Refresh,
    target: impl std::future::Future<Output = miette::Result<T>>,
) -> miette::Result<(Observed, T)> {
    missing_secrets(cfg)?;
    // The config's own attributes, and those only the others read (a column the base config
    // maps and the file no longer has does not stop the plan of this one).
    let attributes = directory_attributes(&cfg.config);
    let mut optional: Vec<String> = Vec::new();
    for o in others {
        optional.extend(directory_attributes(&o.config));
    }
    optional.retain(|a| !attributes.iter().any(|b| a.eq_ignore_ascii_case(b)));
    optional.sort_by_key(|a| a.to_ascii_lowercase());
    optional.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let source = crate::directory::DirectorySource::of(cfg).refresh(refresh);
    // Both sides at once, each with its digest: a live plan waits for the slower server, not
    // for the sum of both, and snapshots are parsed on two cores.
    let intranet = async {
        let target = target.await?;
        let reading = with_digest(target.read(), |r: &Reading| {
            crate::digest::intranet(&r.state)
        })
        .await?;
        Ok::<_, miette::Report>((target, reading))
    };
    let ((directory, directory_digest), (target, (reading, intranet_digest))) = tokio::try_join!(
        with_digest(
            source.read_with(&attributes, &optional),
            crate::digest::directory
        ),
        intranet,
    )?;
    let state_path = cfg.state_path();
    let state = crate::state::read(&state_path)?;
    let observed = Observed {
        state,
        directory_digest,
        intranet_digest,
        directory,
        intranet: reading.state,
        intranet_read: reading.read,
    };
    Ok((observed, target))
}

/// What `read` read, with its digest (hashed off the async threads).
async fn with_digest<T: Send + 'static>(
    read: impl std::future::Future<Output = miette::Result<T>>,
    digest: fn(&T) -> String,
) -> miette::Result<(T, String)> {
    let read = read.await?;
    blocking(move || {
        let d = digest(&read);
        Ok((read, d))
    })
    .await
}

/// Run CPU-bound work off the async threads ([`crate::task::blocking`]; the directory's
/// snapshot read calls it here).
pub(crate) use crate::task::blocking;

/// Two or more secrets of the config that cannot be read, named at once before any traffic (one
/// alone is reported by the side that reads it, with its own help).
pub fn missing_secrets(cfg: &Loaded) -> miette::Result<()> {
    let missing =
        crate::config::secret::unreadable(&cfg.config, &cfg.dir, |k| std::env::var(k).ok());
    if missing.len() < 2 {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(name, e)| format!("`{name}` from the {}: {}", e.source_name, e.problem))
        .collect();
    // Each one's own fix (`export ROSTER_SCIM_TOKEN=... in the shell …`), by its key.
    let fixes: Vec<String> = missing
        .iter()
        .map(|(name, e)| format!("`{name}`: {}", e.fix))
        .collect();
    Err(miette::miette!(
        code = "roster::config::secrets",
        help = format!(
            "{}. Secrets are never written in the YAML",
            fixes.join("; ")
        ),
        "{} secrets cannot be read: {}",
        missing.len(),
        list.join("; ")
    ))
}
