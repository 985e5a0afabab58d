//! Loading a config file: YAML → located node tree → schema check (every problem at once, with
//! "did you mean") → typed `Config` → semantic checks. Every problem is a diagnostic with file,
//! line, column, a snippet with a label, and a help line.

use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_saphyr::Spanned;

use super::node::{find, span_of, Node, Seg, Span};
use super::Config;
use crate::diag::{read_source, Source, SourceError};
use crate::intranet::fields::{Field, VOCABULARY};
use crate::reconcile::mapping::Template;

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The config file.
    pub path: PathBuf,
    /// Its folder: relative paths in the config resolve from here.
    pub dir: PathBuf,
    /// `sha256:` of the file's bytes.
    pub digest: String,
    /// The commit the config comes from, when it is in a git repository.
    pub revision: Option<crate::plan::Revision>,
}

impl Loaded {
    /// The same config, as if read from `path` (relative paths resolve from its folder).
    pub fn at(mut self, path: &Path) -> Loaded {
        self.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.path = path.to_path_buf();
        self
    }

    /// A config that comes from no file (tests, generated configs).
    pub fn from_config(config: Config) -> Loaded {
        Loaded {
            config,
            path: PathBuf::from("roster.yaml"),
            dir: PathBuf::new(),
            digest: String::new(),
            revision: None,
        }
    }

    /// The state file (`state:`, default `roster.state.json`), resolved.
    pub fn state_path(&self) -> PathBuf {
        self.resolve(
            self.config
                .state
                .as_deref()
                .unwrap_or(Path::new(crate::state::DEFAULT_PATH)),
        )
    }

    /// Resolve a path from the config against the config's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        self.dir.join(p)
    }
}

/// Is this (with or without `;options`, any case) an attribute that holds a password?
pub fn is_password_attribute(name: &str) -> bool {
    let base = name.split(';').next().unwrap_or(name).trim();
    PASSWORD_ATTRIBUTES.contains(&base.to_ascii_lowercase().as_str())
}

/// Directory attributes that hold passwords or password hashes. Never read, mapped or logged.
pub const PASSWORD_ATTRIBUTES: &[&str] = &[
    "userpassword",
    "unicodepwd",
    "authpassword",
    "sambantpassword",
    "sambalmpassword",
    "ntpwdhistory",
    "lmpwdhistory",
    "dbcspwd",
    "supplementalcredentials",
    "krbprincipalkey",
    "userpkcs12",
    "msds-managedpassword",
];

/// Attributes whose values are binary: mapping them as text is a mistake.
pub const BINARY_ATTRIBUTES: &[&str] = &[
    "objectguid",
    "objectsid",
    "jpegphoto",
    "thumbnailphoto",
    "photo",
    "usercertificate",
    "cacertificate",
    "usersmimecertificate",
    "msexchmailboxguid",
];

/// The JSON Schema of the config, as generated from the types.
pub fn schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Config)).expect("a schema is JSON")
}

pub fn load(path: &Path) -> miette::Result<Loaded> {
    let src = read_source(path)?;
    let mut loaded = from_source(path, &src)?;
    loaded.revision = crate::gitops::revision(path);
    Ok(loaded)
}

/// Read only the `directory` and `intranet` sections of a config (for `roster export`, which
/// writes the rest). Other keys may be missing or incomplete.
pub fn load_connection(path: &Path) -> miette::Result<Loaded> {
    let src = read_source(path)?;
    let root: Spanned<Node> =
        serde_saphyr::from_str(&src.text).map_err(|e| yaml_error(&src, &e))?;
    let mut json = serde_json::json!({ "version": 1, "syncing_groups": ["cn=roster-export"] });
    for key in ["directory", "intranet"] {
        match root.value.to_json().get(key) {
            Some(v) => json[key] = v.clone(),
            None => {
                let e = SourceError::new("roster::config::missing_key", &src, (0, 0), format!("missing `{key}:`"))
                    .help("`roster export` needs the `directory` and `intranet` sections to know where to read from");
                return Err(e.into());
            }
        }
    }
    let config: Config = serde_json::from_value(json).map_err(|e| {
        SourceError::new(
            "roster::config::invalid",
            &src,
            (0, 0),
            format!("invalid `directory` or `intranet` section: {e}"),
        )
        .help("`roster schema` describes both sections")
    })?;
    Ok(Loaded::from_config(Config { ..config }).at(path))
}

/// Validate config text that came from `path` (on disk, or at a commit).
pub fn from_source(path: &Path, src: &Source) -> Result<Loaded, SourceError> {
    let config = parse(src)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(Loaded {
        config,
        path: path.to_path_buf(),
        dir,
        digest: crate::digest::bytes(src.text.as_bytes()),
        revision: None,
    })
}

/// Parse and validate config text.
pub fn parse(src: &Source) -> Result<Config, SourceError> {
    let root: Spanned<Node> = serde_saphyr::from_str(&src.text).map_err(|e| yaml_error(src, &e))?;
    let mut problems = Problems {
        src,
        root: &root,
        errors: Vec::new(),
        secrets: Vec::new(),
        prune: Vec::new(),
    };
    if !matches!(root.value, Node::Map(_)) {
        problems.at(
            &[],
            false,
            "the config must be a YAML mapping",
            "start from `examples/quickstart/roster.yaml` or `roster schema`",
        );
        return Err(problems.finish().expect("one problem"));
    }
    problems.literal_secrets(&root, &mut Vec::new());
    let mut json = root.value.to_json();
    problems.schema(&json);
    // Report semantic problems too, not only the first layer: check a copy with the broken
    // parts taken out (a literal secret stands in as an env reference), when it still parses.
    for path in &problems.secrets {
        replace(
            &mut json,
            path,
            serde_json::json!({ "env": "ROSTER_REDACTED" }),
        );
    }
    for path in &problems.prune {
        remove(&mut json, path);
    }
    let config: Config = match serde_json::from_value(json) {
        Ok(c) => c,
        Err(_) if !problems.errors.is_empty() => return Err(problems.finish().expect("problems")),
        Err(e) => {
            return Err(SourceError::new(
                "roster::config::invalid",
                src,
                (0, 0),
                format!("invalid config: {e}"),
            ))
        }
    };
    problems.semantics(&config);
    match problems.finish() {
        Some(e) => Err(e),
        None => Ok(config),
    }
}

fn yaml_error(src: &Source, e: &serde_saphyr::Error) -> SourceError {
    let msg = e.to_string();
    let first = msg.lines().next().unwrap_or("invalid YAML");
    // The location is shown by the snippet; keep the message itself.
    let first = match first
        .find(": ")
        .filter(|_| first.starts_with("error: line "))
    {
        Some(_) => first.splitn(3, ": ").nth(2).unwrap_or(first).to_owned(),
        None => first.to_owned(),
    };
    let err = match e.location() {
        Some(loc) if loc.line() > 0 => SourceError::at(
            "roster::config::yaml",
            src,
            loc.line() as usize,
            loc.column().max(1) as usize,
            first,
        ),
        _ => SourceError::new("roster::config::yaml", src, (0, 0), first),
    };
    err.label("here")
        .help("fix the YAML syntax; `roster schema` prints what a config may contain")
}

struct Problems<'a> {
    src: &'a Source,
    root: &'a Spanned<Node>,
    errors: Vec<SourceError>,
    /// Paths of literal secrets.
    secrets: Vec<Vec<Seg>>,
    /// Paths of unknown keys and invalid values.
    prune: Vec<Vec<Seg>>,
}

fn keys(path: &[&str]) -> Vec<Seg> {
    path.iter().map(|k| Seg::Key((*k).to_owned())).collect()
}

impl Problems<'_> {
    fn push(&mut self, span: Span, code: &'static str, message: String, label: &str, help: String) {
        self.errors.push(
            SourceError::new(code, self.src, (span.offset, span.len), message)
                .label(label)
                .help(help),
        );
    }

    /// A problem at a path: on its key (`on_key`) or its value.
    fn at(&mut self, path: &[Seg], on_key: bool, message: &str, help: &str) {
        let f = find(self.root, path, self.src);
        let span = if on_key {
            f.key.unwrap_or(f.value)
        } else {
            f.value
        };
        self.push(
            span,
            "roster::config::invalid",
            message.to_owned(),
            "here",
            help.to_owned(),
        );
    }

    fn finish(self) -> Option<SourceError> {
        let mut errors = self.errors;
        errors.sort_by_key(|e| e.span.offset());
        SourceError::many(errors)
    }

    /// `password: hunter2` or `token: abc` — a literal secret in the file.
    fn literal_secrets(&mut self, node: &Spanned<Node>, path: &mut Vec<Seg>) {
        match &node.value {
            Node::Map(entries) => {
                for (k, v) in entries {
                    let is_secret_key = (matches!(k.value.as_str(), "password" | "token")
                        && path
                            .iter()
                            .any(|s| matches!(s, Seg::Key(k) if k == "ldap" || k == "scim")))
                        || (path.ends_with(&keys(&["scim", "headers"]))
                            && super::is_auth_like_header(&k.value));
                    if is_secret_key && matches!(v.value, Node::Str(_) | Node::Int(_)) {
                        let span = span_of(v, self.src);
                        self.push(
                            span,
                            "roster::config::literal_secret",
                            format!("`{}` is written in the config: secrets never live in YAML", k.value),
                            "a literal secret",
                            format!("use `{}: {{ env: NAME }}` or `{}: {{ file: PATH }}`, and remove this value from the repository's history", k.value, k.value),
                        );
                        let mut p = path.clone();
                        p.push(Seg::Key(k.value.clone()));
                        self.secrets.push(p);
                        continue;
                    }
                    path.push(Seg::Key(k.value.clone()));
                    self.literal_secrets(v, path);
                    path.pop();
                }
            }
            Node::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    self.literal_secrets(v, path);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    fn schema(&mut self, json: &Value) {
        let schema = schema();
        let validator = jsonschema::validator_for(&schema).expect("the generated schema is valid");
        let already: Vec<usize> = self.errors.iter().map(|e| e.span.offset()).collect();
        let mut issues = Vec::new();
        for err in validator.iter_errors(json) {
            flatten(err, &mut issues);
        }
        for Issue {
            path,
            kind,
            message,
        } in issues
        {
            let found = find(self.root, &path, self.src);
            if already.iter().any(|&o| {
                o >= found.value.offset && o < found.value.offset + found.value.len.max(1)
            }) {
                continue; // a literal secret, already explained better
            }
            let where_ = describe(&path);
            match kind {
                IssueKind::Unknown(unexpected) => {
                    let known = known_keys(&schema, &path);
                    for key in unexpected {
                        let key = key.clone();
                        let mut p = path.clone();
                        p.push(Seg::Key(key.clone()));
                        let f = find(self.root, &p, self.src);
                        self.prune.push(p);
                        let help = match suggest(&key, &known) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("{where_} takes: {}", known.join(", ")),
                        };
                        self.push(
                            f.key.unwrap_or(f.value),
                            "roster::config::unknown_key",
                            format!("unknown key `{key}` in {where_}"),
                            "unknown key",
                            help,
                        );
                    }
                }
                IssueKind::Required(name) => {
                    let span = if path.is_empty() {
                        Span { offset: 0, len: 0 }
                    } else {
                        found.key.unwrap_or(found.value)
                    };
                    self.push(
                        span,
                        "roster::config::missing_key",
                        format!("missing required key `{name}` in {where_}"),
                        "in this mapping",
                        format!("add `{name}:`; `roster schema` describes it"),
                    );
                }
                IssueKind::Other => {
                    self.prune.push(path.clone());
                    self.push(
                        found.value,
                        "roster::config::invalid",
                        format!("invalid value for {where_}: {message}"),
                        "this value",
                        "see the config reference in the README, or `roster schema`".into(),
                    );
                }
            }
        }
    }

    fn semantics(&mut self, c: &Config) {
        if c.version != 1 {
            self.at(
                &keys(&["version"]),
                false,
                &format!("unsupported config version {}", c.version),
                "this Roster reads `version: 1`",
            );
        }
        match (&c.directory.ldif, &c.directory.ldap) {
            (Some(_), Some(_)) => self.at(
                &keys(&["directory", "ldap"]),
                true,
                "`directory` has both `ldif` and `ldap`",
                "keep one: `ldif` for an offline snapshot, `ldap` for the live directory",
            ),
            (None, None) => self.at(
                &keys(&["directory"]),
                true,
                "`directory` needs `ldif` or `ldap`",
                "add `ldif: directory.ldif` (offline) or `ldap: { url: ..., base_dn: ... }` (live)",
            ),
            _ => {}
        }
        match (&c.intranet.snapshot, &c.intranet.scim) {
            (Some(_), Some(_)) => self.at(&keys(&["intranet", "scim"]), true, "`intranet` has both `snapshot` and `scim`", "keep one: `snapshot` for offline JSON, `scim` for the live intranet"),
            (None, None) => self.at(&keys(&["intranet"]), true, "`intranet` needs `snapshot` or `scim`", "add `snapshot: intranet.json` (offline) or `scim: { url: ..., token: { env: ... } }` (live)"),
            _ => {}
        }
        if matches!(c.directory.disabled, Some(super::DisabledRule::Filter(_)))
            && c.directory.ldap.is_none()
        {
            self.at(&keys(&["directory", "disabled"]), false, "`disabled: { filter: ... }` is evaluated by the LDAP server", "use `attribute:` or `active_directory` with an LDIF snapshot, or read the live directory with `ldap:`");
        }
        for (attr_key, attr) in [
            ("id_attribute", &c.directory.id_attribute),
            ("username_attribute", &c.directory.username_attribute),
        ] {
            if is_password_attribute(attr) {
                self.at(&keys(&["directory", attr_key]), false, &format!("`{attr}` is a password attribute"), "passwords belong to the directory: Roster never reads, maps, logs or writes them");
            }
        }
        if c.syncing_groups.is_empty() {
            self.at(&keys(&["syncing_groups"]), false, "no syncing groups: nobody would get an account and every managed account would be blocked", "list the DNs of the groups whose members get intranet accounts");
        }
        let mut dn_lists: Vec<(Vec<Seg>, &Vec<String>)> =
            vec![(keys(&["syncing_groups"]), &c.syncing_groups)];
        if c.policy.min_sysadmins.is_some() && !c.admin_roles.contains_key("sysadmin") {
            self.at(
                &keys(&["policy", "min_sysadmins"]),
                true,
                "`min_sysadmins` needs an `admin_roles.sysadmin` role",
                "declare who holds the sysadmin role under `admin_roles.sysadmin`",
            );
        }
        for (name, role) in &c.admin_roles {
            dn_lists.push((
                keys(&["admin_roles", name, "members", "groups"]),
                &role.members.groups,
            ));
        }
        for (path, list) in dn_lists {
            for (i, dn) in list.iter().enumerate() {
                if !dn.contains(['=']) || (!dn.contains(',') && list.len() > 1) {
                    let mut p = path.clone();
                    p.push(Seg::Index(i));
                    self.at(&p, false, &format!("`{dn}` is not a full group DN"), "in a flow list `[a, b]` YAML splits at every comma, and DNs have commas: write one DN per line (`- cn=...,dc=...`) or quote each DN");
                }
            }
        }
        let vocabulary: Vec<String> = VOCABULARY.iter().map(|(n, _)| (*n).to_owned()).collect();
        for (field, mapping) in &c.field_mappings {
            let path = keys(&["field_mappings", field]);
            if field.eq_ignore_ascii_case("password")
                || field.to_ascii_lowercase().contains("password")
            {
                self.at(&path, true, &format!("`{field}` cannot be mapped: passwords belong to the directory"), "Roster never reads, maps, logs or writes passwords; users sign in against the directory");
                continue;
            }
            if field == "username" {
                self.at(
                    &path,
                    true,
                    "`username` is not a mapped field",
                    "the username comes from `directory.username_attribute`",
                );
                continue;
            }
            if Field::parse(field).is_none() {
                let help = match suggest(field, &vocabulary) {
                    Some(s) => format!("did you mean `{s}`? Fields: {}, or `scim:<attribute path>`", vocabulary.join(", ")),
                    None => format!("intranet fields are: {}, or `scim:<attribute path>` for a custom attribute", vocabulary.join(", ")),
                };
                let f = find(self.root, &path, self.src);
                self.push(
                    f.key.unwrap_or(f.value),
                    "roster::config::unknown_field",
                    format!("unknown intranet field `{field}`"),
                    "not an intranet field",
                    help,
                );
                continue;
            }
            let value_path = match mapping {
                super::Mapping::Simple(_) => path.clone(),
                super::Mapping::Detailed(_) => keys(&["field_mappings", field, "from"]),
            };
            match Template::parse(mapping) {
                Err((msg, _)) => self.at(&value_path, false, &msg, "a mapping is an attribute name (`mail`) or a template (`\"{givenName} {sn}\"`)"),
                Ok(t) => {
                    for attr in t.attributes() {
                        let base = attr.split(';').next().unwrap_or(attr).to_ascii_lowercase();
                        if is_password_attribute(attr) {
                            let f = find(self.root, &value_path, self.src);
                            self.push(f.value, "roster::config::password_mapping", format!("`{attr}` is a password attribute and cannot be mapped"), "a password attribute", "passwords belong to the directory: Roster never reads, maps, logs or writes them".into());
                        } else if BINARY_ATTRIBUTES.contains(&base.as_str()) {
                            self.at(&value_path, false, &format!("`{attr}` holds binary data, not text"), "map a text attribute; binary attributes are never mapped as text");
                        }
                    }
                }
            }
        }
        for (name, role) in &c.admin_roles {
            if role.intranet_group.trim().is_empty() {
                self.at(
                    &keys(&["admin_roles", name, "intranet_group"]),
                    false,
                    "`intranet_group` is empty",
                    "name the intranet group (its displayName) that carries this role",
                );
            }
            if role.members.groups.is_empty() && role.members.users.is_empty() {
                self.at(&keys(&["admin_roles", name, "members"]), false, &format!("role `{name}` has no members: every holder would be revoked"), "list `groups:` and/or `users:`; the IT team that runs the sync should hold the admin roles");
            }
        }
    }
}

enum IssueKind {
    Unknown(Vec<String>),
    Required(String),
    Other,
}

/// A schema problem, located by its path in the document.
struct Issue {
    path: Vec<Seg>,
    kind: IssueKind,
    message: String,
}

/// Turn a schema error into issues. `anyOf`/`oneOf` (optional values, secrets, mappings) hide
/// the real problem, so they give way to the errors of the branch that came closest.
fn flatten(err: jsonschema::ValidationError<'_>, out: &mut Vec<Issue>) {
    use jsonschema::error::ValidationErrorKind as K;
    let message = err.masked().to_string();
    let parts = err.into_parts();
    let path: Vec<Seg> = (&parts.instance_path)
        .into_iter()
        .map(|s| match s {
            jsonschema::paths::LocationSegment::Property(p) => Seg::Key(p.to_string()),
            jsonschema::paths::LocationSegment::Index(i) => Seg::Index(i),
        })
        .collect();
    let here = parts.instance_path.as_str().to_owned();
    let kind = match parts.kind {
        K::AdditionalProperties { unexpected } => IssueKind::Unknown(unexpected),
        K::Required { property } => {
            IssueKind::Required(property.as_str().unwrap_or_default().to_owned())
        }
        K::AnyOf { context } | K::OneOfNotValid { context } => {
            // A branch that failed only on the value's type or constant at this very place (the
            // `null` of an optional) says nothing; of the rest, the one with fewest errors.
            let shallow = |b: &Vec<jsonschema::ValidationError<'static>>| {
                b.iter().all(|e| {
                    matches!(
                        e.kind(),
                        K::Type { .. } | K::Constant { .. } | K::Enum { .. }
                    ) && e.instance_path().as_str() == here
                })
            };
            let best = context
                .into_iter()
                .filter(|b| !b.is_empty() && !shallow(b))
                .min_by_key(Vec::len);
            if let Some(branch) = best {
                for e in branch {
                    flatten(e, out);
                }
                return;
            }
            IssueKind::Other
        }
        _ => IssueKind::Other,
    };
    out.push(Issue {
        path,
        kind,
        message,
    });
}

fn replace(json: &mut Value, path: &[Seg], with: Value) {
    if let Some(slot) = pointer_mut(json, path) {
        *slot = with;
    }
}

fn remove(json: &mut Value, path: &[Seg]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    match (pointer_mut(json, parent), last) {
        (Some(Value::Object(m)), Seg::Key(k)) => {
            m.remove(k);
        }
        (Some(Value::Array(a)), Seg::Index(i)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

fn pointer_mut<'a>(json: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(json, |v, seg| match (v, seg) {
        (Value::Object(m), Seg::Key(k)) => m.get_mut(k),
        (Value::Array(a), Seg::Index(i)) => a.get_mut(*i),
        _ => None,
    })
}

/// A readable name for a place in the document.
fn describe(path: &[Seg]) -> String {
    if path.is_empty() {
        return "the config".into();
    }
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    format!("`{s}`")
}

/// Keys the schema allows at an object path (following $ref, properties, items, anyOf/oneOf).
fn known_keys(schema: &Value, path: &[Seg]) -> Vec<String> {
    fn resolve<'a>(root: &'a Value, mut s: &'a Value) -> &'a Value {
        while let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(t) => s = t,
                None => break,
            }
        }
        s
    }
    fn branches<'a>(root: &'a Value, s: &'a Value) -> Vec<&'a Value> {
        let s = resolve(root, s);
        let mut out = vec![s];
        for k in ["anyOf", "oneOf", "allOf"] {
            if let Some(list) = s.get(k).and_then(Value::as_array) {
                out.extend(list.iter().flat_map(|b| branches(root, b)));
            }
        }
        out
    }
    let mut current = vec![schema];
    for seg in path {
        current = current
            .into_iter()
            .flat_map(|s| branches(schema, s))
            .filter_map(|s| match seg {
                Seg::Key(k) => s
                    .get("properties")
                    .and_then(|p| p.get(k))
                    .or_else(|| s.get("additionalProperties").filter(|a| a.is_object())),
                Seg::Index(_) => s.get("items"),
            })
            .collect();
    }
    let mut keys: Vec<String> = current
        .into_iter()
        .flat_map(|s| branches(schema, s))
        .filter_map(|s| s.get("properties").and_then(Value::as_object))
        .flat_map(|p| p.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The closest known name, if one is close enough to be a typo.
pub fn suggest(word: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| {
            (
                strsim::jaro_winkler(&word.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}
