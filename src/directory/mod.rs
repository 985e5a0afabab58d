//! The directory side behind one seam: [`DirectorySource`] reads what the mappings need into the
//! source-neutral model, writes the snapshot `roster snapshot directory` produces, and says how
//! the groups it holds are named ([`GroupIdentity`]). Each kind of source is one module here and
//! one variant of `config::SourceConfig`; nothing outside this file matches on the kind.

pub mod groups;
pub mod ldap;
pub mod ldif;
pub mod ldif_write;

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use miette::{IntoDiagnostic, WrapErr};

use crate::config::{DirectoryConfig, LdapConfig, Loaded, SourceConfig};
use crate::model::DirectoryState;

/// The directory a config names, ready to read: the source's settings and the folder its
/// relative paths (snapshot, `password: { file }`, `ca_file`) resolve from.
pub struct DirectorySource<'a> {
    kind: Kind<'a>,
    directory: &'a DirectoryConfig,
    base_dir: &'a Path,
}

/// The implementations, one per key under `directory:`.
enum Kind<'a> {
    /// An LDIF snapshot file, resolved.
    Ldif(PathBuf),
    /// The live directory over LDAP.
    Ldap(&'a LdapConfig),
}

/// How a source names its groups, as `syncing_groups` and `admin_roles.*.members.groups` write
/// them: the source decides how two names are compared.
///
/// Members are named the same way: a group's member values are the names of users and groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupIdentity {
    /// An LDAP DN, compared in normalised form (LDAP and LDIF).
    #[default]
    Dn,
}

impl GroupIdentity {
    /// `name` in the form two names of the same group share.
    pub fn normalize<'s>(&self, name: &'s str) -> Cow<'s, str> {
        match self {
            GroupIdentity::Dn => groups::normalized(name),
        }
    }

    /// [`normalize`](Self::normalize), owned.
    pub fn key(&self, name: &str) -> String {
        self.normalize(name).into_owned()
    }

    /// A member value as a group entry holds it, in normal form (`uniqueMember`'s optional
    /// `#'bits'B` UID dropped).
    pub fn member<'s>(&self, value: &'s str) -> Cow<'s, str> {
        match self {
            GroupIdentity::Dn => groups::normalized(groups::strip_uid_suffix(value)),
        }
    }

    /// What a group's name is, in the user's terms (`"DN"`).
    pub fn noun(&self) -> &'static str {
        match self {
            GroupIdentity::Dn => "DN",
        }
    }
}

impl<'a> DirectorySource<'a> {
    /// The source `cfg` names.
    pub fn of(cfg: &'a Loaded) -> Self {
        DirectorySource::new(&cfg.config.directory, &cfg.dir)
    }

    /// The source of `directory`, with relative paths resolved from `base_dir`.
    pub fn new(directory: &'a DirectoryConfig, base_dir: &'a Path) -> Self {
        let kind = match &directory.source {
            SourceConfig::Ldif(path) => Kind::Ldif(base_dir.join(path)),
            SourceConfig::Ldap(live) => Kind::Ldap(live),
        };
        DirectorySource {
            kind,
            directory,
            base_dir,
        }
    }

    /// How this source's groups are named and compared.
    pub fn group_identity(&self) -> GroupIdentity {
        match self.kind {
            Kind::Ldif(_) | Kind::Ldap(_) => GroupIdentity::Dn,
        }
    }

    /// Read users and groups. A live read asks for the user `attributes` the mappings need (the
    /// source adds its ID, username, disabled marker and object class itself); an empty read is
    /// refused by the read guard in `policy`, with its own exit code.
    pub async fn read(&self, attributes: &[String]) -> miette::Result<DirectoryState> {
        let mut state = self.read_as_is(attributes).await?;
        state.identity = self.group_identity();
        Ok(state)
    }

    async fn read_as_is(&self, attributes: &[String]) -> miette::Result<DirectoryState> {
        match &self.kind {
            Kind::Ldif(path) => {
                let path = path.clone();
                crate::observe::blocking(move || {
                    let src = crate::diag::read_source(&path)?;
                    Ok(ldif::classify(ldif::parse(&src)?))
                })
                .await
            }
            Kind::Ldap(live) => {
                Ok(ldap::read(live, self.directory, attributes, self.base_dir).await?)
            }
        }
    }

    /// `roster snapshot directory`: write what the source holds as LDIF to `out` (`-` for
    /// stdout). A live read into a file is streamed, so a large directory is never held in
    /// memory. Returns the users and groups written, `None` for stdout.
    pub async fn snapshot(
        &self,
        attributes: &[String],
        out: &Path,
    ) -> miette::Result<Option<(usize, usize)>> {
        let stdout = out == Path::new("-");
        if let (Kind::Ldap(live), false) = (&self.kind, stdout) {
            let written =
                ldif_write::snapshot_live(live, self.directory, attributes, self.base_dir, out)
                    .await?;
            return Ok(Some(written));
        }
        let state = self.read(attributes).await?;
        if stdout {
            // A closed pipe (`roster snapshot directory -o - | head`) is not worth a diagnostic.
            let _ = ldif_write::write_ldif(
                &state,
                &mut std::io::BufWriter::new(std::io::stdout().lock()),
            );
            return Ok(None);
        }
        let written = std::fs::File::create(out).and_then(|f| {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            ldif_write::write_ldif(&state, &mut w)?;
            w.flush()
        });
        written
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write the snapshot to {}", out.display()))?;
        Ok(Some((state.users.len(), state.groups.len())))
    }

    /// The names of the attributes the entry of the user `username` holds, for a "did you mean"
    /// on a mapped attribute no user has. `None` where the read already holds whole entries (a
    /// snapshot) or it cannot be told.
    pub async fn attribute_names(&self, username: &str) -> Option<Vec<String>> {
        match &self.kind {
            Kind::Ldif(_) => None,
            Kind::Ldap(live) => {
                ldap::attribute_names(live, self.directory, username, self.base_dir).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_identity_compares_normalised_dns_and_drops_the_unique_member_uid() {
        let id = GroupIdentity::Dn;
        assert_eq!(
            id.normalize("CN=Staff , OU=Groups,DC=Example"),
            "cn=staff,ou=groups,dc=example"
        );
        assert_eq!(id.member("UID=Ada,DC=x#'0101'B"), "uid=ada,dc=x");
        assert_eq!(id.noun(), "DN");
    }

    #[tokio::test]
    async fn a_snapshot_is_read_through_the_seam_with_its_identity() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("d.ldif"),
            "dn: uid=ada,dc=x\nobjectClass: inetOrgPerson\nuid: ada\n\ndn: cn=Staff,dc=x\nobjectClass: groupOfNames\nmember: UID=Ada,DC=x\n",
        )
        .unwrap();
        let cfg: DirectoryConfig =
            serde_json::from_value(serde_json::json!({ "ldif": "d.ldif" })).unwrap();
        let source = DirectorySource::new(&cfg, dir.path());
        let state = source.read(&[]).await.unwrap();
        assert_eq!(state.identity, GroupIdentity::Dn);
        let groups = groups::Groups::new(&state);
        let members = groups.transitive_members(["cn=staff,DC=X"]);
        assert!(members.contains("uid=ada,dc=x"), "{members:?}");
        assert_eq!(source.attribute_names("ada").await, None);
    }
}
