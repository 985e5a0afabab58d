//! The directory side behind one seam: [`DirectorySource`] reads what the mappings need into the
//! source-neutral model, writes the snapshot `roster snapshot directory` produces, and says how
//! the groups it holds are named ([`GroupIdentity`]). Each kind of source is one module here and
//! one variant of `config::SourceConfig`: reading, snapshots and group names go through this
//! file and never match on the kind elsewhere (checks of one kind's settings stay with the config).

pub mod csv;
pub mod entra;
pub mod groups;
pub mod ldap;
pub mod ldif;
pub mod strays;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use miette::{IntoDiagnostic, WrapErr};

use crate::config::{CsvConfig, DirectoryConfig, EntraConfig, LdapConfig, Loaded, SourceConfig};
use crate::model::{DirectoryState, Entry};

/// The directory a config names, ready to read: the source's settings and the folder its
/// relative paths (snapshot, `password: { file }`, `ca_file`) resolve from.
pub struct DirectorySource<'a> {
    backend: Backend<'a>,
    directory: &'a DirectoryConfig,
    base_dir: &'a Path,
    /// The groups the config names (syncing and role groups): a source that reads members
    /// group by group (Entra ID) reads only these.
    groups: Vec<&'a str>,
    /// Where a source keeps its cache (`.roster/` next to the config, or `$ROSTER_DATA_DIR`);
    /// `None` for no cache.
    data_dir: Option<PathBuf>,
    /// `--refresh`: `Full` reads everything and rewrites the cache.
    refresh: crate::intranet::scim::cache::Refresh,
}

/// The implementations, one per key under `directory:`.
enum Backend<'a> {
    /// An LDIF snapshot file, resolved.
    Ldif(PathBuf),
    /// The live directory over LDAP.
    Ldap(&'a LdapConfig),
    /// A CSV file (an HR export).
    Csv(&'a CsvConfig),
    /// Entra ID over Microsoft Graph.
    Entra(&'a EntraConfig),
    /// An Entra ID JSON snapshot, resolved.
    EntraSnapshot(PathBuf),
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
    /// A plain name (a CSV directory's group names, and its users' IDs as members), compared
    /// trimmed and without case.
    Name,
    /// An Entra ID object ID (a GUID), compared without case; the config may also name a group
    /// by its `displayName` ([`alias_attribute`](Self::alias_attribute)).
    ObjectId,
}

impl GroupIdentity {
    /// How the groups of the source `source` are named.
    pub fn of(source: &SourceConfig) -> GroupIdentity {
        match source {
            SourceConfig::Ldif(_) | SourceConfig::Ldap(_) => GroupIdentity::Dn,
            SourceConfig::Csv(_) => GroupIdentity::Name,
            SourceConfig::Entra(_) | SourceConfig::EntraSnapshot(_) => GroupIdentity::ObjectId,
        }
    }

    /// `name` in the form two names of the same group share.
    pub fn normalize<'s>(&self, name: &'s str) -> Cow<'s, str> {
        match self {
            GroupIdentity::Dn => groups::normalized(name),
            GroupIdentity::Name => name_key(name),
            GroupIdentity::ObjectId => lowercased(name),
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
            GroupIdentity::Name => name_key(value),
            GroupIdentity::ObjectId => lowercased(value),
        }
    }

    /// What a group's name is, in the user's terms (`"DN"`, `"group name"`).
    pub fn noun(&self) -> &'static str {
        match self {
            GroupIdentity::Dn => "DN",
            GroupIdentity::Name => "group name",
            GroupIdentity::ObjectId => "group ID or display name",
        }
    }

    /// Whether the source holds a group that has no members (LDAP, Entra ID), so an absent
    /// group is a mistake; a CSV file knows a group only through its members.
    pub fn holds_empty_groups(&self) -> bool {
        match self {
            GroupIdentity::Dn | GroupIdentity::ObjectId => true,
            GroupIdentity::Name => false,
        }
    }

    /// The group attribute the config may name a group by instead of its key (Entra ID's
    /// `displayName`), compared without case; two groups sharing it must be named by key.
    pub fn alias_attribute(&self) -> Option<&'static str> {
        match self {
            GroupIdentity::Dn | GroupIdentity::Name => None,
            GroupIdentity::ObjectId => Some("displayName"),
        }
    }
}

/// `name` lowercased, borrowed when it already is.
fn lowercased(name: &str) -> Cow<'_, str> {
    if name.chars().any(char::is_uppercase) {
        Cow::Owned(name.to_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// A plain name trimmed and lowercased; borrowed when it already is (nearly always for IDs).
fn name_key(name: &str) -> Cow<'_, str> {
    let name = name.trim();
    if name.chars().any(char::is_uppercase) {
        Cow::Owned(name.to_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Users or groups: which search an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

/// Where the entries of a read go, as they arrive (a snapshot file, or a [`DirectoryState`]).
pub trait EntrySink {
    /// An attempt begins: drop whatever an earlier, dropped attempt delivered. `disabled` holds
    /// the normalised DNs the server matched with the `disabled: { filter }` rule, if any.
    fn begin(&mut self, disabled: Option<&BTreeSet<String>>) -> std::io::Result<()>;
    /// One entry, complete (ranged member values already fetched).
    fn entry(&mut self, kind: Kind, entry: Entry) -> std::io::Result<()>;
}

impl<'a> DirectorySource<'a> {
    /// The source `cfg` names.
    pub fn of(cfg: &'a Loaded) -> Self {
        let mut source = DirectorySource::new(&cfg.config.directory, &cfg.dir);
        let c = &cfg.config;
        source.groups = c
            .syncing_groups
            .iter()
            .chain(c.admin_roles.values().flat_map(|r| &r.members.groups))
            .map(|g| g.name())
            .collect();
        source.data_dir = Some(
            match std::env::var_os(crate::intranet::scim::cache::DATA_DIR_ENV) {
                Some(d) if !d.is_empty() => PathBuf::from(d),
                _ => cfg.dir.join(".roster"),
            },
        );
        source
    }

    /// The source of `directory`, with relative paths resolved from `base_dir`.
    pub fn new(directory: &'a DirectoryConfig, base_dir: &'a Path) -> Self {
        let backend = match &directory.source {
            SourceConfig::Ldif(path) => Backend::Ldif(base_dir.join(path)),
            SourceConfig::Ldap(live) => Backend::Ldap(live),
            SourceConfig::Csv(file) => Backend::Csv(file),
            SourceConfig::Entra(live) => Backend::Entra(live),
            SourceConfig::EntraSnapshot(path) => Backend::EntraSnapshot(base_dir.join(path)),
        };
        DirectorySource {
            backend,
            directory,
            base_dir,
            groups: Vec::new(),
            data_dir: None,
            refresh: crate::intranet::scim::cache::Refresh::Auto,
        }
    }

    /// Read as `--refresh` says: `Full` ignores the cache (and rewrites it).
    pub fn refresh(mut self, refresh: crate::intranet::scim::cache::Refresh) -> Self {
        self.refresh = refresh;
        self
    }

    /// How this source's groups are named and compared.
    pub fn group_identity(&self) -> GroupIdentity {
        GroupIdentity::of(&self.directory.source)
    }

    /// Read users and groups. A live read asks for the user `attributes` the mappings need (the
    /// source adds its ID, username, disabled marker and object class itself); an empty read is
    /// refused by the read guard in `policy`, with its own exit code.
    pub async fn read(&self, attributes: &[String]) -> miette::Result<DirectoryState> {
        self.read_with(attributes, &[]).await
    }

    /// [`read`](Self::read) with `attributes` that are guesses (`roster export`'s): a source
    /// that refuses a column or attribute it does not have (CSV) reads the others.
    pub async fn read_guessing(&self, attributes: &[String]) -> miette::Result<DirectoryState> {
        self.read_with(&[], attributes).await
    }

    /// [`read`](Self::read) with `required` attributes (the config's own mappings) and
    /// `optional` ones (another config's, as `plan --base` reads for the base): a source that
    /// refuses a column it does not have refuses only a required one.
    pub async fn read_with(
        &self,
        required: &[String],
        optional: &[String],
    ) -> miette::Result<DirectoryState> {
        let mut state = self.read_as_is(required, optional).await?;
        state.identity = self.group_identity();
        Ok(state)
    }

    async fn read_as_is(
        &self,
        required: &[String],
        optional: &[String],
    ) -> miette::Result<DirectoryState> {
        match &self.backend {
            Backend::Ldif(path) => {
                let path = path.clone();
                let mut state = crate::task::blocking(move || {
                    let src = crate::diag::read_source(&path)?;
                    Ok(ldif::classify(ldif::parse(&src)?))
                })
                .await?;
                let strays = strays::in_snapshot(&state, &self.groups);
                state.warnings.extend(strays);
                Ok(state)
            }
            Backend::Ldap(live) => {
                let attributes = [required, optional].concat();
                Ok(ldap::read_resolving(
                    live,
                    self.directory,
                    &attributes,
                    self.base_dir,
                    &self.groups,
                )
                .await?)
            }
            Backend::Csv(file) => {
                let read = csv::Read {
                    file: (*file).clone(),
                    directory: self.directory.clone(),
                    base_dir: self.base_dir.to_path_buf(),
                    attributes: required.to_vec(),
                    optional: optional.to_vec(),
                };
                crate::task::blocking(move || Ok(read.run()?)).await
            }
            Backend::Entra(live) => Ok(entra::read(
                live,
                self.directory,
                &[required, optional].concat(),
                self.base_dir,
                &self.groups,
                self.data_dir.clone().map(|d| {
                    (
                        d,
                        self.refresh == crate::intranet::scim::cache::Refresh::Auto,
                    )
                }),
            )
            .await?),
            Backend::EntraSnapshot(path) => {
                let path = path.clone();
                crate::task::blocking(move || entra::snapshot::read(&path)).await
            }
        }
    }

    /// `roster snapshot directory`: write what the source holds as LDIF (a CSV source: as CSV,
    /// see [`csv::write`]) to `out` (`-` for stdout). A live read into a file is streamed, so a large directory is never held in
    /// memory. Returns the users and groups written, `None` for stdout.
    pub async fn snapshot(
        &self,
        attributes: &[String],
        out: &Path,
    ) -> miette::Result<Option<(usize, usize)>> {
        let stdout = out == Path::new("-");
        let cannot_write = || format!("cannot write the snapshot to {}", out.display());
        self.check_snapshot_name(out)?;
        if let (Backend::Ldap(live), false) = (&self.backend, stdout) {
            let mut file = ldif::write::SnapshotFile::create(out)
                .into_diagnostic()
                .wrap_err_with(cannot_write)?;
            let warnings = ldap::read_into(
                live,
                self.directory,
                attributes,
                self.base_dir,
                &self.groups,
                file.sink(),
            )
            .await?;
            let (users, groups) = file
                .finish(&warnings)
                .into_diagnostic()
                .wrap_err_with(cannot_write)?;
            // An empty read is refused, as for a plan.
            if users == 0 {
                return Err(ldap::LdapError::NoUsers.into());
            }
            return Ok(Some((users, groups)));
        }
        let state = self.read(attributes).await?;
        // Each source's snapshot is its own format: LDIF, CSV, or Entra ID's JSON.
        let write = |state: &DirectoryState, w: &mut dyn Write| -> std::io::Result<()> {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, w);
            match self.backend {
                Backend::Ldif(_) | Backend::Ldap(_) => ldif::write::write_ldif(state, &mut w)?,
                Backend::Csv(file) => {
                    csv::write::write_csv(state, self.directory, file, attributes, &mut w)?
                }
                Backend::Entra(_) | Backend::EntraSnapshot(_) => {
                    entra::snapshot::write(state, &mut w)?
                }
            }
            w.flush()
        };
        if stdout {
            // A closed pipe (`roster snapshot directory -o - | head`) is not worth a diagnostic.
            let _ = write(&state, &mut std::io::stdout().lock());
            return Ok(None);
        }
        let written = std::fs::File::create(out).and_then(|mut f| write(&state, &mut f));
        written.into_diagnostic().wrap_err_with(cannot_write)?;
        Ok(Some((state.users.len(), state.groups.len())))
    }

    /// The snapshot's format, as a file extension.
    fn snapshot_format(&self) -> &'static str {
        match self.backend {
            Backend::Ldif(_) | Backend::Ldap(_) => "ldif",
            Backend::Csv(_) => "csv",
            Backend::Entra(_) | Backend::EntraSnapshot(_) => "json",
        }
    }

    /// A snapshot file named for another format (`-o dir.ldif` from a CSV source) is refused
    /// before anything is read: read back as the wrong kind, it would not plan.
    fn check_snapshot_name(&self, out: &Path) -> miette::Result<()> {
        let format = self.snapshot_format();
        let Some(ext) = out.extension().and_then(|e| e.to_str()) else {
            return Ok(());
        };
        let ext = ext.to_ascii_lowercase();
        if ext == format || !["ldif", "csv", "json"].contains(&ext.as_str()) {
            return Ok(());
        }
        Err(miette::miette!(
            code = "roster::snapshot::format",
            help = format!(
                "name the file `.{format}`: that is the format a `{}` source's snapshot is written in",
                self.directory.source.key()
            ),
            "{} is named `.{ext}`, but this directory's snapshot is {}",
            crate::text::shown(&out.display().to_string()),
            format.to_ascii_uppercase()
        ))
    }

    /// The names of the attributes the entry of the user `username` holds, for a "did you mean"
    /// on a mapped attribute no user has. `None` where the read already holds whole entries (a
    /// snapshot) or it cannot be told.
    pub async fn attribute_names(&self, username: &str) -> Option<Vec<String>> {
        match &self.backend {
            Backend::Ldif(_) | Backend::Csv(_) | Backend::Entra(_) | Backend::EntraSnapshot(_) => {
                None
            }
            Backend::Ldap(live) => {
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

    #[test]
    fn name_identity_compares_trimmed_names_without_case() {
        let id = GroupIdentity::Name;
        assert_eq!(id.normalize(" IT Admins "), "it admins");
        assert_eq!(id.member("E1001"), "e1001");
        // No DN parsing: commas and `=` are part of the name.
        assert_eq!(id.normalize("Sales, EMEA=1"), "sales, emea=1");
        assert!(matches!(id.normalize("staff"), Cow::Borrowed(_)));
        assert_eq!(id.noun(), "group name");
        let state = DirectoryState {
            groups: vec![{
                let mut g = Entry::new("Staff");
                g.add("member", crate::model::AttrValue::Text("E1".into()));
                g
            }],
            identity: id,
            ..Default::default()
        };
        let groups = groups::Groups::new(&state);
        assert!(groups.contains_group(" STAFF"));
        assert!(groups.transitive_members(["staff"]).contains("e1"));
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
