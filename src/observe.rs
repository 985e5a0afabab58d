//! Observe: read the directory and the intranet named by the config (snapshots or live
//! servers) into the source-neutral model, with digests of what was read.

use crate::config::Loaded;
use crate::intranet::cache::{CacheSettings, Refresh};
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
    let settings = CacheSettings::default();
    Ok(intranet_with(cfg, fields, &settings).await?.0)
}

/// Read the intranet side, with the values of `fields`; a live read uses the cache as
/// `settings` allow, and says how it read.
pub async fn intranet_with(
    cfg: &Loaded,
    fields: &[String],
    settings: &CacheSettings,
) -> miette::Result<(IntranetState, Option<IntranetRead>)> {
    if let Some(path) = &cfg.config.intranet.snapshot {
        let (path, fields) = (cfg.resolve(path), fields.to_vec());
        let state = blocking(move || crate::intranet::snapshot::read_state(&path, &fields)).await?;
        return Ok((state, None));
    }
    let live = crate::intranet::scim::connect(cfg).await?;
    crate::intranet::scim::require_schemas(&live.caps, fields)?;
    let (state, read) =
        crate::intranet::cache::read_state(&live.client, &live.caps, fields, settings).await?;
    Ok((state, Some(read)))
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
    missing_secrets(cfg)?;
    let mut fields = crate::intranet::scim::mapped_fields(cfg);
    for o in others {
        fields.extend(crate::intranet::scim::mapped_fields(o));
    }
    fields.sort();
    fields.dedup();
    let mut attributes = directory_attributes(&cfg.config);
    for o in others {
        attributes.extend(directory_attributes(&o.config));
    }
    attributes.sort_by_key(|a| a.to_ascii_lowercase());
    attributes.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    // Both sides at once, each with its digest: a live plan waits for the slower server, not
    // for the sum of both, and snapshots are parsed on two cores.
    let settings = CacheSettings::for_config(cfg, refresh);
    let source = crate::directory::DirectorySource::of(cfg).refresh(refresh);
    let ((directory, directory_digest), ((intranet, intranet_read), intranet_digest)) = tokio::try_join!(
        with_digest(source.read(&attributes), crate::digest::directory),
        with_digest(
            self::intranet_with(cfg, &fields, &settings),
            |(intranet, _): &(IntranetState, Option<IntranetRead>)| crate::digest::intranet(
                intranet
            )
        ),
    )?;
    let state_path = cfg.state_path();
    let state = crate::state::read(&state_path)?;
    Ok(Observed {
        state,
        directory_digest,
        intranet_digest,
        directory,
        intranet,
        intranet_read,
    })
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

/// Run CPU-bound work (parsing a snapshot, hashing what was read) off the async threads, so both
/// sides proceed at once. A panic in it is carried on, not turned into an error.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> miette::Result<T> + Send + 'static,
) -> miette::Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => Err(miette::miette!("reading was cancelled: {e}")),
        },
    }
}

/// Two or more secrets of the config that cannot be read, named at once before any traffic (one
/// alone is reported by the side that reads it, with its own help).
fn missing_secrets(cfg: &Loaded) -> miette::Result<()> {
    let missing =
        crate::config::secret::unreadable(&cfg.config, &cfg.dir, |k| std::env::var(k).ok());
    if missing.len() < 2 {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(name, e)| format!("`{name}` from the {}: {}", e.source_name, e.problem))
        .collect();
    Err(miette::miette!(
        code = "roster::config::secrets",
        help = "set each environment variable or create each file; secrets are never written in the YAML",
        "{} secrets cannot be read: {}",
        missing.len(),
        list.join("; ")
    ))
}
