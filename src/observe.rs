//! Observe: read the directory and the intranet named by the config (snapshots or live
//! servers) into the source-neutral model, with digests of what was read.

use crate::config::Loaded;
use crate::diag::read_source;
use crate::directory::ldif;
use crate::intranet::snapshot::{read_snapshot, state_from_resources};
use crate::model::{DirectoryState, IntranetState};
use crate::plan::Inputs;

/// Both sides as read, and the digests a plan records.
#[derive(Debug, Clone)]
pub struct Observed {
    pub directory: DirectoryState,
    pub intranet: IntranetState,
    pub inputs: Inputs,
}

/// Read the directory side.
pub async fn directory(cfg: &Loaded) -> miette::Result<DirectoryState> {
    let d = &cfg.config.directory;
    if let Some(path) = &d.ldif {
        let src = read_source(&cfg.resolve(path))?;
        return Ok(ldif::classify(ldif::parse(&src)?));
    }
    Err(miette::miette!(
        code = "roster::directory::unsupported",
        help = "use `directory.ldif` with a snapshot",
        "the live LDAP source is not available in this build"
    ))
}

/// Read the intranet side.
pub async fn intranet(cfg: &Loaded) -> miette::Result<IntranetState> {
    let fields: Vec<String> = cfg.config.field_mappings.keys().cloned().collect();
    if let Some(path) = &cfg.config.intranet.snapshot {
        let (_, res) = read_snapshot(&cfg.resolve(path))?;
        return Ok(state_from_resources(&res.users, &res.groups, &fields));
    }
    let live = crate::intranet::scim::connect(cfg).await?;
    Ok(live.read_state(cfg).await?)
}

/// Read both sides.
pub async fn observe(cfg: &Loaded) -> miette::Result<Observed> {
    let directory = self::directory(cfg).await?;
    let intranet = self::intranet(cfg).await?;
    let inputs = Inputs {
        config: cfg.digest.clone(),
        directory: crate::digest::directory(&directory),
        intranet: crate::digest::intranet(&intranet),
    };
    Ok(Observed {
        directory,
        intranet,
        inputs,
    })
}
