//! The configuration file's shape: serde + schemars types. `schemas/roster.schema.json` is
//! generated from these; loading (with spans and diagnostics) lives in `config::load`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Roster configuration (`roster.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Roster configuration")]
pub struct Config {
    /// Configuration format version. Must be 1.
    pub version: u32,
    /// Where users and groups come from.
    pub directory: DirectoryConfig,
    /// The intranet whose accounts Roster keeps in sync.
    pub intranet: IntranetConfig,
    /// The groups whose members (nested at any depth) get intranet accounts: each a group as the
    /// source names it (a DN for `ldap` and `ldif`), or `{ group, allow_empty: true }` for a
    /// group that may resolve to no users.
    pub syncing_groups: Vec<GroupRef>,
    /// Intranet field → directory attribute, template (`"{givenName} {sn}"`) or detailed mapping.
    #[serde(default)]
    pub field_mappings: BTreeMap<String, Mapping>,
    /// Admin roles and who should hold them.
    #[serde(default)]
    pub admin_roles: BTreeMap<String, AdminRole>,
    #[serde(default)]
    pub policy: Policy,
    /// The state file `apply` writes (last-applied field values), relative to the config.
    /// Default `roster.state.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PathBuf>,
}

/// `directory:`: exactly one source key (`ldif`, `ldap`, `csv`, `entra` or `entra_snapshot`),
/// and how its entries are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// Where users and groups are read from: one key per kind of source.
    #[serde(flatten)]
    pub source: SourceConfig,
    /// The directory's immutable ID attribute: entryUUID (the default for `ldap` and `ldif`),
    /// objectGUID, nsUniqueId, ipaUniqueID; `id` (the default) or onPremisesImmutableId for
    /// `entra`; the ID column for `csv` (required there).
    // Code reads it with `DirectoryConfig::id_attribute()`, which knows each source's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_attribute: Option<String>,
    /// The attribute that holds the username: uid (the default for `ldap` and `ldif`), or
    /// sAMAccountName on Active Directory; userPrincipalName (the default), mail or
    /// onPremisesSamAccountName for `entra`; the username column for `csv` (required there).
    // Code reads it with `DirectoryConfig::username_attribute()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_attribute: Option<String>,
    /// How a disabled user is recognised. Without it, no user counts as disabled, except for
    /// Entra ID, where `accountEnabled: false` does, and for an `ldap` or `ldif` source whose
    /// `id_attribute` is objectGUID (Active Directory), where `active_directory` applies.
    // Code reads it with `DirectoryConfig::disabled_rule()`, which knows each source's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<DisabledRule>,
}

/// The kinds of directory source. Each is one key under `directory:`; the schema allows exactly
/// one. A new kind of source is one variant here and one module in `directory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // one per config, read once
pub enum SourceConfig {
    /// Offline snapshot: an LDIF file (as `ldapsearch -LLL` writes it), relative to the config.
    Ldif(PathBuf),
    /// Live directory over LDAP.
    Ldap(LdapConfig),
    /// Microsoft Entra ID, read over Microsoft Graph with an app registration's client
    /// credentials (grant it the `User.Read.All` and `GroupMember.Read.All` application
    /// permissions).
    Entra(EntraConfig),
    /// Offline snapshot of an Entra ID directory, as `roster snapshot directory` writes it with
    /// an `entra` source: a JSON file, relative to the config.
    EntraSnapshot(PathBuf),
    /// A CSV file (an HR export): one row per user, columns named by `id_attribute`,
    /// `username_attribute`, the mappings and `disabled`; `id_attribute` and
    /// `username_attribute` are required.
    Csv(CsvConfig),
}

/// `directory: { csv: ... }`: an HR export, one row per user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// The CSV file, relative to the config. Its first line names the columns.
    pub file: PathBuf,
    /// How the file's bytes are text: `utf-8` (the default; a BOM is skipped), `windows-1252` or
    /// `latin-1` (read as Windows-1252, its superset). A file that starts with a UTF-8 or UTF-16
    /// BOM is read as the BOM says.
    #[serde(default, skip_serializing_if = "is_default")]
    pub encoding: CsvEncoding,
    /// The field delimiter: `","`, `";"` or `"\t"`. Without it, the one the header line uses
    /// most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "CsvDelimiter")]
    pub delimiter: Option<CsvDelimiter>,
    /// Where group membership is: a column of the users file (`{ column: Groups, separator:
    /// "|" }`), or a second file with one row per membership (`{ file: groups.csv,
    /// group_column: Group, member_column: EmployeeID }`, members named by the users' ID).
    /// `syncing_groups` and roles' `members.groups` name these groups.
    pub groups: CsvGroups,
}

/// A CSV file's text encoding. `latin-1` is read as Windows-1252, as browsers do: the same
/// bytes, with 0x80–0x9F the Windows characters (€, curly quotes) instead of control codes no
/// HR export holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CsvEncoding {
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "windows-1252")]
    Windows1252,
    #[serde(rename = "latin-1")]
    Latin1,
}

/// A CSV field delimiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CsvDelimiter {
    #[serde(rename = ",")]
    Comma,
    #[serde(rename = ";")]
    Semicolon,
    #[serde(rename = "\t")]
    Tab,
}

impl CsvDelimiter {
    /// The delimiter's byte.
    pub fn byte(self) -> u8 {
        match self {
            CsvDelimiter::Comma => b',',
            CsvDelimiter::Semicolon => b';',
            CsvDelimiter::Tab => b'\t',
        }
    }
}

/// Where a CSV directory's group membership is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum CsvGroups {
    /// A column of the users file holding the user's groups, `separator` between them.
    Column {
        column: String,
        /// What separates two group names in the cell. Default `|`.
        #[serde(default = "default_group_separator")]
        separator: String,
    },
    /// A second CSV file (same encoding; its delimiter declared or detected like the users
    /// file's), one row per membership.
    File {
        /// Relative to the config.
        file: PathBuf,
        /// The column that names the group.
        group_column: String,
        /// The column that names the member, by the user's ID (`id_attribute`'s value).
        member_column: String,
    },
}

/// `groups:` as written, every key optional, so a mix of the two forms is told apart from a
/// typo with a message in the config's terms.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvGroupsForm {
    column: Option<String>,
    separator: Option<String>,
    file: Option<PathBuf>,
    group_column: Option<String>,
    member_column: Option<String>,
}

impl<'de> Deserialize<'de> for CsvGroups {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CsvGroups, D::Error> {
        let f = CsvGroupsForm::deserialize(d)?;
        match f {
            CsvGroupsForm {
                column: Some(column),
                separator,
                file: None,
                group_column: None,
                member_column: None,
            } => Ok(CsvGroups::Column {
                column,
                separator: separator.unwrap_or_else(default_group_separator),
            }),
            CsvGroupsForm {
                column: None,
                separator: None,
                file: Some(file),
                group_column: Some(group_column),
                member_column: Some(member_column),
            } => Ok(CsvGroups::File {
                file,
                group_column,
                member_column,
            }),
            _ => Err(serde::de::Error::custom(
                "`directory.csv.groups` takes either `column` (and `separator`), or `file`, `group_column` and `member_column`",
            )),
        }
    }
}

fn default_group_separator() -> String {
    "|".into()
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// What a source's attribute names look like, so a mapping's typo (`{giv en}`) is caught where
/// the source could never have such a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeNames {
    /// An LDAP attribute description: a letter, then letters, digits and `-` (or a dotted OID),
    /// with `;options`.
    Ldap,
    /// A Microsoft Graph property: a letter, then letters, digits and `_`
    /// (`extension_<appid>_costCenter`).
    Graph,
    /// A CSV column: any text without control characters (`First Name`).
    Column,
}

/// `disabled:` when an Entra ID config names none: `accountEnabled` false.
static ENTRA_DISABLED: std::sync::LazyLock<DisabledRule> = std::sync::LazyLock::new(|| {
    DisabledRule::Attribute(DisabledAttribute {
        name: "accountEnabled".into(),
        values: vec!["false".into()],
        allow_empty: false,
    })
});

impl SourceConfig {
    /// The live LDAP settings, when the source is `ldap`.
    pub fn ldap(&self) -> Option<&LdapConfig> {
        match self {
            SourceConfig::Ldap(l) => Some(l),
            _ => None,
        }
    }

    /// The data file the source reads (relative to the config), when it reads one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            SourceConfig::Ldif(p) | SourceConfig::EntraSnapshot(p) => Some(p),
            SourceConfig::Csv(c) => Some(&c.file),
            SourceConfig::Ldap(_) | SourceConfig::Entra(_) => None,
        }
    }

    /// The secret the source reads (its config path, and where it is), if any.
    pub fn secret(&self) -> Option<(&'static str, &Secret)> {
        match self {
            SourceConfig::Ldap(l) => l.password.as_ref().map(|s| ("directory.ldap.password", s)),
            SourceConfig::Entra(e) => e
                .client_secret
                .as_ref()
                .map(|s| ("directory.entra.client_secret", s)),
            SourceConfig::Ldif(_) | SourceConfig::EntraSnapshot(_) | SourceConfig::Csv(_) => None,
        }
    }

    /// What the source's attribute names look like, as mappings name them.
    pub fn attribute_names(&self) -> AttributeNames {
        match self {
            SourceConfig::Ldif(_) | SourceConfig::Ldap(_) => AttributeNames::Ldap,
            SourceConfig::Entra(_) | SourceConfig::EntraSnapshot(_) => AttributeNames::Graph,
            SourceConfig::Csv(_) => AttributeNames::Column,
        }
    }

    /// Whether the config names this source's groups by DN (`syncing_groups: [cn=...]`); an
    /// Entra ID source names them by object ID or display name.
    pub fn groups_by_dn(&self) -> bool {
        matches!(self, SourceConfig::Ldif(_) | SourceConfig::Ldap(_))
    }

    /// How a user is recognised as disabled when the config says nothing (`accountEnabled`
    /// false for Entra ID; nobody for LDAP).
    pub fn default_disabled(&self) -> Option<&'static DisabledRule> {
        match self {
            SourceConfig::Entra(_) | SourceConfig::EntraSnapshot(_) => Some(&ENTRA_DISABLED),
            SourceConfig::Ldif(_) | SourceConfig::Ldap(_) | SourceConfig::Csv(_) => None,
        }
    }

    /// The (ID, username) attributes a source reads when the config names none; empty where a
    /// source has no sensible default.
    pub fn defaults(&self) -> (&'static str, &'static str) {
        match self {
            SourceConfig::Ldif(_) | SourceConfig::Ldap(_) => ("entryUUID", "uid"),
            SourceConfig::Csv(_) => ("", ""),
            SourceConfig::Entra(_) | SourceConfig::EntraSnapshot(_) => ("id", "userPrincipalName"),
        }
    }

    /// The key this source is written under in `directory:`.
    pub fn key(&self) -> &'static str {
        match self {
            SourceConfig::Ldif(_) => "ldif",
            SourceConfig::Ldap(_) => "ldap",
            SourceConfig::Csv(_) => "csv",
            SourceConfig::Entra(_) => "entra",
            SourceConfig::EntraSnapshot(_) => "entra_snapshot",
        }
    }
}

impl DirectoryConfig {
    /// The immutable ID attribute: as configured, else the source's default (empty for a source
    /// that has none; the config check asks for it).
    pub fn id_attribute(&self) -> &str {
        self.id_attribute
            .as_deref()
            .unwrap_or_else(|| self.source.defaults().0)
    }

    /// The username attribute: as configured, else the source's default.
    pub fn username_attribute(&self) -> &str {
        self.username_attribute
            .as_deref()
            .unwrap_or_else(|| self.source.defaults().1)
    }

    /// How a disabled user is recognised: as configured, else the source's default, else
    /// `active_directory` for an LDAP directory identified by objectGUID (Active Directory,
    /// where a disabled account that stays in its groups must not keep its intranet account).
    pub fn disabled_rule(&self) -> Option<&DisabledRule> {
        static ACTIVE_DIRECTORY: DisabledRule = DisabledRule::ActiveDirectory;
        self.disabled
            .as_ref()
            .or_else(|| self.source.default_disabled())
            .or_else(|| {
                (self.source.groups_by_dn()
                    && self.id_attribute().eq_ignore_ascii_case("objectGUID"))
                .then_some(&ACTIVE_DIRECTORY)
            })
    }
}

/// How a disabled user is recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "DisabledForm", into = "DisabledForm")]
pub enum DisabledRule {
    /// Active Directory: userAccountControl has the ACCOUNTDISABLE bit (0x2).
    ActiveDirectory,
    /// The user is disabled when this attribute is present (pwdAccountLockedTime), or, for
    /// nsAccountLock, when it is TRUE.
    Attribute(DisabledAttribute),
    /// The user is disabled when the server matches this LDAP filter (live LDAP only).
    Filter(String),
}

/// `disabled: { attribute, values, allow_empty }`: the attribute's name (what it derefs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledAttribute {
    pub name: String,
    /// The values that mean disabled, compared without case and surrounding white space. Empty:
    /// any value but `FALSE` means disabled.
    pub values: Vec<String>,
    /// No user may have the attribute even when the plan would reactivate accounts.
    pub allow_empty: bool,
}

impl DisabledAttribute {
    /// Whether `value`, one of the attribute's values, marks its user disabled.
    pub fn disables(&self, value: &str) -> bool {
        let value = value.trim();
        if self.values.is_empty() {
            !value.eq_ignore_ascii_case("false")
        } else {
            self.values
                .iter()
                .any(|v| v.trim().eq_ignore_ascii_case(value))
        }
    }
}

impl std::ops::Deref for DisabledAttribute {
    type Target = str;
    fn deref(&self) -> &str {
        &self.name
    }
}

impl From<&str> for DisabledAttribute {
    fn from(name: &str) -> DisabledAttribute {
        DisabledAttribute {
            name: name.to_owned(),
            values: Vec::new(),
            allow_empty: false,
        }
    }
}

/// How a disabled user is recognised, as the config writes it (its schema is
/// [`DisabledRule`]'s).
#[derive(Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum DisabledForm {
    Named(DisabledName),
    /// The user is disabled when this attribute is present (pwdAccountLockedTime), or, for
    /// nsAccountLock, when it is TRUE.
    Attribute {
        attribute: String,
        /// The values that mean disabled (`[terminated, on leave]`, `[false]` for Entra ID's
        /// `accountEnabled`), compared without case. Without it, any value but FALSE does.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        values: Vec<String>,
        /// No user in the directory has the attribute, and that is expected: without it, a
        /// plan that would reactivate accounts while nobody has the attribute is refused (most
        /// likely a typo that makes every user look enabled).
        #[serde(default, skip_serializing_if = "is_false")]
        allow_empty: bool,
    },
    /// The user is disabled when the server matches this LDAP filter (live LDAP only).
    Filter {
        filter: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DisabledName {
    /// Active Directory: userAccountControl has the ACCOUNTDISABLE bit (0x2).
    ActiveDirectory,
}

impl From<DisabledForm> for DisabledRule {
    fn from(f: DisabledForm) -> DisabledRule {
        match f {
            DisabledForm::Named(DisabledName::ActiveDirectory) => DisabledRule::ActiveDirectory,
            DisabledForm::Attribute {
                attribute,
                values,
                allow_empty,
            } => DisabledRule::Attribute(DisabledAttribute {
                name: attribute,
                values,
                allow_empty,
            }),
            DisabledForm::Filter { filter } => DisabledRule::Filter(filter),
        }
    }
}

impl From<DisabledRule> for DisabledForm {
    fn from(r: DisabledRule) -> DisabledForm {
        match r {
            DisabledRule::ActiveDirectory => DisabledForm::Named(DisabledName::ActiveDirectory),
            DisabledRule::Attribute(a) => DisabledForm::Attribute {
                attribute: a.name,
                values: a.values,
                allow_empty: a.allow_empty,
            },
            DisabledRule::Filter(filter) => DisabledForm::Filter { filter },
        }
    }
}

impl JsonSchema for DisabledRule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DisabledRule".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "How a disabled user is recognised.",
            "oneOf": [
                {
                    "description": "Active Directory: userAccountControl has the ACCOUNTDISABLE bit (0x2).",
                    "type": "string",
                    "const": "active_directory"
                },
                {
                    "description": "The user is disabled when this attribute is present (pwdAccountLockedTime), or, for\nnsAccountLock, when it is TRUE; with `values`, when it holds one of them.",
                    "type": "object",
                    "properties": {
                        "attribute": { "type": "string" },
                        "values": {
                            "description": "The values that mean disabled (`[terminated, on leave]`, `[false]` for Entra ID's\n`accountEnabled`), compared without case. Without it, any value but FALSE does.",
                            "type": "array",
                            "items": { "type": "string" }
                        },
                        "allow_empty": {
                            "description": "No user in the directory has the attribute, and that is expected: without it, a\nplan that would reactivate accounts while no user has the attribute is refused (most\nlikely a typo that makes every user look enabled).",
                            "type": "boolean"
                        }
                    },
                    "required": ["attribute"],
                    "additionalProperties": false
                },
                {
                    "description": "The user is disabled when the server matches this LDAP filter (live LDAP only).",
                    "type": "object",
                    "properties": { "filter": { "type": "string" } },
                    "required": ["filter"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A secret, never written in the YAML itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Secret {
    /// Read from this environment variable.
    Env(String),
    /// Read from this file (relative to the config); surrounding whitespace is trimmed.
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldaps://host[:port]` or `ldap://host[:port]` (with `start_tls`, or on loopback).
    pub url: String,
    /// DN to bind as; anonymous bind without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Search base for users and groups unless they set their own.
    pub base_dn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<SearchConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<SearchConfig>,
    /// Upgrade `ldap://` with StartTLS.
    #[serde(default)]
    pub start_tls: bool,
    /// PEM file of CA certificates to verify the server's certificate with, instead of the
    /// system roots (a private CA, such as an Active Directory's enterprise CA); relative to the
    /// config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Allow a password over plain `ldap://` to a non-loopback host.
    #[serde(default)]
    pub insecure: bool,
    /// Paged results page size (RFC 2696).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds to wait for the connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Seconds to wait for each operation.
    #[serde(default = "default_operation_timeout")]
    pub timeout: u64,
}

fn default_page_size() -> u32 {
    500
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_operation_timeout() -> u64 {
    120
}

/// `directory.entra`: a Microsoft Entra ID tenant, read over Microsoft Graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// The directory (tenant) ID, a GUID, or a verified domain (`contoso.onmicrosoft.com`).
    pub tenant_id: String,
    /// The application (client) ID of the app registration Roster signs in as.
    pub client_id: String,
    /// The app registration's client secret: `{ env: NAME }` or `{ file: PATH }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// Or a certificate credential: `{ file: app.pem }`, one PEM file holding the app's RSA
    /// private key and the certificate uploaded to the app registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateRef>,
    /// The login authority (default `https://login.microsoftonline.com`;
    /// `https://login.microsoftonline.us` or `https://login.chinacloudapi.cn` for national
    /// clouds).
    #[serde(default = "default_authority")]
    pub authority: String,
    /// The Microsoft Graph base URL with its version (default
    /// `https://graph.microsoft.com/v1.0`; `https://graph.microsoft.us/v1.0`,
    /// `https://microsoftgraph.chinacloudapi.cn/v1.0` for national clouds).
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1))]
    pub concurrency: usize,
    /// Seconds to wait for each request.
    #[serde(default = "default_http_timeout")]
    #[schemars(range(min = 1))]
    pub timeout: u64,
    /// Keep the users read and Graph's delta link in `.roster/` (next to the config, or in
    /// `$ROSTER_DATA_DIR`), so that the next read asks Graph only for the users changed since,
    /// and falls back to reading everything on any doubt. `false`: always read everything.
    #[serde(default = "default_true")]
    pub cache: bool,
}

/// `certificate: { file: PATH }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateRef {
    /// A PEM file holding the private key and the certificate.
    pub file: PathBuf,
}

/// The public cloud's login authority.
pub const DEFAULT_ENTRA_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The public cloud's Microsoft Graph.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
fn default_authority() -> String {
    DEFAULT_ENTRA_AUTHORITY.into()
}
fn default_graph_url() -> String {
    DEFAULT_GRAPH_URL.into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Base,
    One,
    Sub,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntranetConfig {
    /// Offline snapshot: `{ "users": <ListResponse>, "groups": <ListResponse> }`, relative to the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<PathBuf>,
    /// Live intranet over SCIM 2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// Base URL of the SCIM service, e.g. `https://intranet.example.com/scim/v2`.
    pub url: String,
    /// Bearer token.
    pub token: Secret,
    /// Extra HTTP headers sent with every request (to the configured origin only: redirects are
    /// not followed). A value is a plain string, or `{ env: NAME }` / `{ file: PATH }` like the
    /// token; an auth-like header (Authorization, Cookie, X-Api-Key, or a name containing
    /// token, secret, key, auth or password) must use `env:` or `file:`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, HeaderSetting>,
    /// Allow plain `http://` to a non-loopback host.
    #[serde(default)]
    pub insecure: bool,
    /// PEM file of CA certificates to verify the service's HTTPS certificate with, instead of
    /// the system roots (a private or self-signed CA); relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The most requests in flight at once (default 32), of each kind (list pages, single
    /// writes, Bulk requests). With `adaptive` (the default) Roster starts at 1 and finds the
    /// number below this that the service and the link carry without queueing.
    #[serde(default = "default_scim_concurrency")]
    #[schemars(range(min = 1))]
    pub concurrency: usize,
    /// Learn how many requests to keep in flight from their latency, backing off on rising
    /// latency, 429 and 503 (default `true`); `false`: always `concurrency`.
    #[serde(default = "default_true")]
    pub adaptive: bool,
    /// Seconds to wait for each request.
    #[serde(default = "default_http_timeout")]
    pub timeout: u64,
    /// Keep a verified cache of the Users read (in `.roster/` next to the config, or in
    /// `$ROSTER_DATA_DIR`), so that the next read asks the server only for the Users changed
    /// since, and falls back to reading everything on any doubt. `false`: always read everything.
    #[serde(default = "default_true")]
    pub cache: bool,
    /// How `apply` groups its writes into SCIM Bulk requests (RFC 7644 §3.7).
    #[serde(default)]
    pub bulk: BulkConfig,
    /// The largest response body accepted, in bytes (default 64 MiB): a larger answer is an
    /// error, not read into memory.
    #[serde(default = "default_max_response_bytes")]
    #[schemars(range(min = 1))]
    pub max_response_bytes: u64,
    /// The most resources one list read accepts (default 10,000,000): a service claiming more in
    /// `totalResults` is refused before any paging.
    #[serde(default = "default_max_resources")]
    #[schemars(range(min = 1))]
    pub max_resources: u64,
    /// Seconds a whole read of the intranet (all pages of Users and Groups, retries included)
    /// may take (default 3600).
    #[serde(default = "default_read_timeout")]
    #[schemars(range(min = 1))]
    pub read_timeout: u64,
}

/// The value of a configured HTTP header: literal text, or read like a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HeaderSetting {
    /// Literal text (refused for auth-like header names).
    Text(String),
    /// `{ env: NAME }` or `{ file: PATH }`.
    Secret(Secret),
}

/// Header names whose value is a credential: a literal value for one is refused.
pub fn is_auth_like_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || [
        "token",
        "secret",
        "key",
        "auth",
        "password",
        "session",
        "credential",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// 64 MiB: a page of 1,000 Users is a few MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
fn default_max_response_bytes() -> u64 {
    DEFAULT_MAX_RESPONSE_BYTES
}
/// Ten million resources per collection.
pub const DEFAULT_MAX_RESOURCES: u64 = 10_000_000;
fn default_max_resources() -> u64 {
    DEFAULT_MAX_RESOURCES
}
fn default_read_timeout() -> u64 {
    3600
}

/// SCIM Bulk for `apply`: many writes in one request, which is much faster against a service
/// whose cost is per request. Each operation still carries the plan's ETag (as the operation's
/// `version`, which acts as `If-Match`) and gets its own outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkConfig {
    /// Send writes as Bulk requests when the service's `/ServiceProviderConfig` announces Bulk
    /// support (default `true`). `false`: one request per write, as without Bulk.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Operations per Bulk request (default 200), further capped by the service's announced
    /// `maxOperations`; a request is also kept within its `maxPayloadSize`.
    #[serde(default = "default_bulk_batch")]
    #[schemars(range(min = 1))]
    pub batch: usize,
}

impl Default for BulkConfig {
    fn default() -> Self {
        BulkConfig {
            enabled: true,
            batch: default_bulk_batch(),
        }
    }
}

fn default_true() -> bool {
    true
}
/// 200 operations a request: measured against scim2-server, 50 were slower and 1,000 no faster;
/// and one failed request stays small.
pub const DEFAULT_BULK_BATCH: usize = 200;
fn default_bulk_batch() -> usize {
    DEFAULT_BULK_BATCH
}

fn default_concurrency() -> usize {
    4
}
/// The SCIM ceiling: adaptive concurrency rarely needs more over a wide-area link (measured in
/// BENCHMARKS.md), and stays well below it against a service that queues.
pub const DEFAULT_SCIM_CONCURRENCY: usize = 32;
fn default_scim_concurrency() -> usize {
    DEFAULT_SCIM_CONCURRENCY
}
fn default_http_timeout() -> u64 {
    30
}

/// How an intranet field gets its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Mapping {
    /// An attribute name (`mail`) or a template (`"{givenName} {sn}"`).
    Simple(String),
    Detailed(DetailedMapping),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailedMapping {
    /// An attribute name or a template.
    pub from: String,
    /// Lowercase the value.
    #[serde(default)]
    pub lowercase: bool,
    /// Trim surrounding whitespace.
    #[serde(default)]
    pub trim: bool,
    /// The attribute may be missing on every syncing user (the field is then left empty
    /// everywhere). Without it, an attribute no syncing user has is an error: most likely a typo.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_empty: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Mapping {
    pub fn source(&self) -> &str {
        match self {
            Mapping::Simple(s) => s,
            Mapping::Detailed(d) => &d.from,
        }
    }

    /// May no syncing user have this mapping's attributes?
    pub fn allow_empty(&self) -> bool {
        matches!(self, Mapping::Detailed(d) if d.allow_empty)
    }
}

/// A directory group named in the config, as the source names it (a DN for `ldap` and `ldif`):
/// the name, or `{ group, allow_empty }`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum GroupRef {
    /// The group's name in the source's terms.
    Dn(String),
    Detailed(DetailedGroup),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = dn_alias)]
pub struct DetailedGroup {
    /// The group's name in the source's terms: a DN (`ldap`, `ldif`), or as another source
    /// names its groups. `dn:` is accepted for it too (its earlier name).
    #[serde(alias = "dn")]
    pub group: String,
    /// The group may be empty or resolve to no users. It must still exist in the directory.
    /// Without it, such a group is an error: a mistyped or emptied group must never look like
    /// everyone leaving.
    #[serde(default)]
    pub allow_empty: bool,
}

/// `{ group }` in the schema also takes its earlier name `dn` (deprecated), never both: the
/// config check then reads either, as serde does (`#[serde(alias)]`).
fn dn_alias(schema: &mut schemars::Schema) {
    if let Some(props) = schema
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    {
        props.insert(
            "dn".into(),
            serde_json::json!({
                "description": "The earlier name of `group`, still accepted.",
                "type": "string",
                "deprecated": true
            }),
        );
    }
    schema.remove("required");
    schema.insert(
        "oneOf".into(),
        serde_json::json!([
            { "required": ["group"], "description": "The group's name in the source's terms." },
            { "required": ["dn"], "description": "The earlier name of `group`." }
        ]),
    );
}

impl GroupRef {
    /// The group's name, as the config writes it and the source names the group.
    pub fn name(&self) -> &str {
        match self {
            GroupRef::Dn(name) => name,
            GroupRef::Detailed(d) => &d.group,
        }
    }

    pub fn allow_empty(&self) -> bool {
        matches!(self, GroupRef::Detailed(d) if d.allow_empty)
    }
}

impl AsRef<str> for GroupRef {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl From<&str> for GroupRef {
    fn from(name: &str) -> GroupRef {
        GroupRef::Dn(name.to_owned())
    }
}

impl From<String> for GroupRef {
    fn from(name: String) -> GroupRef {
        GroupRef::Dn(name)
    }
}

impl std::fmt::Display for GroupRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminRole {
    /// displayName of the intranet group that carries the role.
    pub intranet_group: String,
    pub members: RoleMembers,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMembers {
    /// Directory groups (nested at any depth): each a group as the source names it, or
    /// `{ group, allow_empty: true }`.
    #[serde(default)]
    pub groups: Vec<GroupRef>,
    /// Usernames (directory users or local intranet accounts such as a break-glass account).
    #[serde(default)]
    pub users: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Unblock a returning user.
    #[serde(default = "yes")]
    pub reactivate: bool,
    /// Link an unmanaged account whose username matches a syncing user (first run).
    #[serde(default = "yes")]
    pub adopt: bool,
    /// Usernames never blocked, renamed or stripped of roles.
    #[serde(default)]
    pub protected: Vec<String>,
    /// Refuse a plan that blocks more accounts than this: a count (`25`), a share of the active
    /// managed accounts (`"10%"`), or `false` for no limit. Default (absent or null): the larger
    /// of 5 and 10% of the active managed accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_blocks: Option<Guard>,
    /// Refuse a plan that clears more mapped field values (a field going from a value to none,
    /// counted once per account and field) than this: a count, a share of the active managed
    /// accounts, or `false` for no limit. Default (absent or null): the larger of 5 and 10% of
    /// the active managed accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clears: Option<Guard>,
    /// Refuse a plan that revokes more admin roles (one per account and role) than this: a count,
    /// a share of today's role holders (the members of the admin roles' intranet groups, counted
    /// once per role), or `false` for no limit. Default (absent or null): the larger of 5 and 10%
    /// of today's role holders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_revokes: Option<Guard>,
    /// Refuse a plan that renames more accounts than this (a rename changes the person's login):
    /// a count, a share of the active managed accounts, or `false` for no limit. Default (absent
    /// or null): the larger of 5 and 10% of the active managed accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_renames: Option<Guard>,
    /// Refuse a plan that leaves fewer active holders of the `sysadmin` role than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sysadmins: Option<u32>,
    /// Refuse a plan after which more accounts are active (licensed) than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licences: Option<u64>,
    /// Refuse to plan when more of the active managed accounts than this would be blocked because
    /// their users vanished from the directory read: a vanished directory must never look like a
    /// mass leaving. Default `20%`.
    #[serde(default = "default_max_vanished")]
    pub max_vanished: Limit,
    /// The intranet username Roster applies as (the SCIM token's account). A plan that would
    /// block or rename it, or revoke its roles, is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_as: Option<String>,
    /// What `roster apply --unattended` (a scheduled run, no one watching) may apply on its own,
    /// per kind of change; a plan with more is saved for approval instead (exit 4). The limits
    /// above hold for every run, unattended or not.
    #[serde(default)]
    pub unattended: Unattended,
}

/// `policy.unattended`: per kind of change in the plan, whether an unattended run may apply it:
/// `true` (any number; the safety policy's limits still hold), `false` (never: a person
/// approves), or up to a count (`3`) or a share (`"1%"`) of the active managed accounts (of
/// today's admin role holders for `grant` and `revoke`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unattended {
    /// Accounts created for joiners. Default `true`.
    #[serde(default = "permit_any")]
    pub create: Permit,
    /// Unmanaged accounts linked to a syncing user by username (`policy.adopt`). Default
    /// `false`: taking over an account made by hand is a person's call.
    #[serde(default = "permit_never")]
    pub link: Permit,
    /// Accounts renamed (each changes someone's login). Default `false`.
    #[serde(default = "permit_never")]
    pub rename: Permit,
    /// Accounts whose mapped fields are updated (directory edits, reverted intranet overrides).
    /// Default `true`.
    #[serde(default = "permit_any")]
    pub update: Permit,
    /// Blocked accounts of returning users unblocked. Default `true`.
    #[serde(default = "permit_any")]
    pub reactivate: Permit,
    /// Accounts blocked (leavers, disabled users). Default `5`.
    #[serde(default = "permit_few")]
    pub block: Permit,
    /// Mapped field values cleared (a value → none, once per account and field), as
    /// `policy.max_clears` counts them. Default `5`.
    #[serde(default = "permit_few")]
    pub clear: Permit,
    /// Admin roles granted. Default `false`.
    #[serde(default = "permit_never")]
    pub grant: Permit,
    /// Admin roles revoked. Default `false`.
    #[serde(default = "permit_never")]
    pub revoke: Permit,
}

/// What an unattended run may do of one kind of change: `true`, `false`, or up to a limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Permit {
    /// `true`: any number (the safety policy's limits still hold); `false`: never.
    All(bool),
    /// Up to a count (`3`) or a share (`"1%"`).
    UpTo(Limit),
}

/// An unattended run's default for blocks and clears: a few, like a day's leavers in a small
/// company; more waits for a person.
pub const DEFAULT_UNATTENDED_FEW: u64 = 5;

fn permit_any() -> Permit {
    Permit::All(true)
}

fn permit_never() -> Permit {
    Permit::All(false)
}

fn permit_few() -> Permit {
    Permit::UpTo(Limit::Count(DEFAULT_UNATTENDED_FEW))
}

impl Default for Unattended {
    fn default() -> Self {
        Unattended {
            create: permit_any(),
            link: permit_never(),
            rename: permit_never(),
            update: permit_any(),
            reactivate: permit_any(),
            block: permit_few(),
            clear: permit_few(),
            grant: permit_never(),
            revoke: permit_never(),
        }
    }
}

impl Unattended {
    /// The setting for one kind of change in the plan.
    pub fn of(&self, action: crate::plan::Action) -> &Permit {
        use crate::plan::Action;
        match action {
            Action::Create => &self.create,
            Action::Link => &self.link,
            Action::Rename => &self.rename,
            Action::Update => &self.update,
            Action::Reactivate => &self.reactivate,
            Action::Block => &self.block,
            Action::Grant => &self.grant,
            Action::Revoke => &self.revoke,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_max_vanished() -> Limit {
    Limit::Share("20%".into())
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            reactivate: true,
            adopt: true,
            protected: Vec::new(),
            max_blocks: None,
            max_clears: None,
            max_revokes: None,
            max_renames: None,
            min_sysadmins: None,
            licences: None,
            max_vanished: default_max_vanished(),
            apply_as: None,
            unattended: Unattended::default(),
        }
    }
}

/// A limit: a count of accounts, or a share of a total (`"10%"`, at most `"100%"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Limit {
    Count(u64),
    Share(#[schemars(regex(pattern = r"^0*(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)%$"))] String),
}

impl Limit {
    /// The largest allowed number out of `total`.
    pub fn of(&self, total: usize) -> usize {
        match self {
            Limit::Count(n) => usize::try_from(*n).unwrap_or(usize::MAX),
            Limit::Share(s) => {
                let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
                (total as f64 * pct / 100.0).floor() as usize
            }
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n}"),
            Limit::Share(s) => f.write_str(s),
        }
    }
}

/// A guard on one kind of destructive change: a limit, or `false` to turn it off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Guard {
    /// A count (`25`) or a share (`"10%"`).
    Limit(Limit),
    /// `false`: no limit.
    Off(Off),
}

/// The value `false`, and nothing else: a guard turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Off;

impl Serialize for Off {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(false)
    }
}

impl<'de> Deserialize<'de> for Off {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Off, D::Error> {
        match bool::deserialize(d)? {
            false => Ok(Off),
            true => Err(serde::de::Error::custom(
                "`true` is not a limit: write a count, a share (\"10%\") or `false` for no limit",
            )),
        }
    }
}

impl JsonSchema for Off {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Off".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`false`: no limit.",
            "const": false
        })
    }
}

/// The default limit on blocks, clears and revokes: at least this many...
pub const DEFAULT_GUARD_FLOOR: usize = 5;
/// ... or this share of the base, whichever is larger (as Entra Connect's deletion threshold).
pub const DEFAULT_GUARD_PERCENT: usize = 10;

/// The default limit out of `total`: the larger of 5 and 10% of it.
pub fn default_guard(total: usize) -> usize {
    DEFAULT_GUARD_FLOOR.max(total * DEFAULT_GUARD_PERCENT / 100)
}
