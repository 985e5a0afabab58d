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
use crate::text::shown as inline;

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
    /// The config's text, for diagnostics that point into it after loading (a group DN the
    /// directory does not have). `None` for a config that comes from no file.
    pub source: Option<Source>,
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
            source: None,
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

    /// Roster's data folder: `$ROSTER_DATA_DIR`, else `.roster/` beside the config (the caches,
    /// a plan that waits for approval).
    pub fn data_dir(&self) -> PathBuf {
        match std::env::var_os(crate::intranet::scim::cache::DATA_DIR_ENV) {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => self.dir.join(".roster"),
        }
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

/// The config as it is at the commit `rev`. Relative paths in it resolve from the config's
/// folder in the work tree, so that base and head plan against one read of the systems.
pub fn load_at(path: &Path, rev: &str) -> miette::Result<Loaded> {
    let (src, revision) = crate::gitops::file_at(path, rev)?;
    let mut loaded = from_source(path, &src)?;
    loaded.revision = Some(revision);
    Ok(loaded)
}

/// Read only the `directory` and `intranet` sections of a config (for `roster export`, which
/// writes the rest). Other keys may be missing or incomplete.
pub fn load_connection(path: &Path) -> miette::Result<Loaded> {
    let text = read_source(path)?;
    let root = read_yaml(&text.text).map_err(|e| yaml_error(&shown(&text, None), &e))?;
    let src = shown(&text, Some(&root));
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
    // The same checks as a full config's, on these two sections: a literal secret or a wrong
    // value is reported at its place, and never quoted.
    let mut problems = Problems {
        src: &src,
        root: &root,
        errors: Vec::new(),
        secrets: Vec::new(),
        prune: Vec::new(),
    };
    problems.literal_secrets(&root, &mut Vec::new());
    problems.schema(&json);
    if let Some(e) = problems.finish() {
        return Err(e.into());
    }
    let config: Config = serde_json::from_value(json).map_err(|_| {
        SourceError::new(
            "roster::config::invalid",
            &src,
            (0, 0),
            "invalid `directory` or `intranet` section",
        )
        .help("`roster validate` on a full config points at the problem; `roster schema` describes both sections")
    })?;
    Ok(Loaded::from_config(config).at(path))
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
        source: Some(src.clone()),
    })
}

/// The config as diagnostics show it: the values written after secret-like keys (found in
/// the text, and in the parsed document when there is one) overwritten with `*`, in place.
fn shown(src: &Source, root: Option<&Spanned<Node>>) -> Source {
    fn walk(node: &Spanned<Node>, src: &Source, out: &mut Vec<std::ops::Range<usize>>) {
        match &node.value {
            Node::Map(entries) => {
                for (k, v) in entries {
                    if k.value == "field_mappings" {
                        continue; // attribute names: `password: userPassword` is shown
                    }
                    if super::secret::is_secret_key(&k.value)
                        && matches!(v.value, Node::Str(_) | Node::Int(_) | Node::Float(_))
                    {
                        let s = span_of(v, src);
                        out.push(s.offset..s.offset + s.len);
                    }
                    walk(v, src, out);
                }
            }
            Node::Seq(items) => items.iter().for_each(|i| walk(i, src, out)),
            _ => {}
        }
    }
    let mut ranges = super::secret::literal_ranges(&src.text);
    if let Some(root) = root {
        walk(root, src, &mut ranges);
    }
    src.masked(&ranges)
}

/// Parse and validate config text. No diagnostic shows the value of a secret written in it.
pub fn parse(text: &Source) -> Result<Config, SourceError> {
    let root = read_yaml(&text.text).map_err(|e| yaml_error(&shown(text, None), &e))?;
    let shown = shown(text, Some(&root));
    let src = &shown;
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
    problems.policy_numbers();
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
                format!("invalid config: {}", crate::diag::json_message(&e)),
            )
            .help("`roster schema` describes what a config may contain"))
        }
    };
    problems.semantics(&config);
    match problems.finish() {
        Some(e) => Err(e),
        None => Ok(config),
    }
}

/// At most this many values (mappings, lists and scalars, aliases expanded) in a config: far
/// more than any real config holds, and a YAML bomb (aliases that multiply) stops here, early.
pub const MAX_CONFIG_NODES: usize = 100_000;
/// At most this many levels of nesting in a config.
pub const MAX_CONFIG_DEPTH: usize = 64;

/// Parse YAML into located nodes, within the budget above.
fn read_yaml(text: &str) -> Result<Spanned<Node>, serde_saphyr::Error> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = MAX_CONFIG_NODES;
    budget.max_depth = MAX_CONFIG_DEPTH;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    serde_saphyr::from_str_with_options(text, options)
}

/// A YAML error in the user's terms: what the parser's own words (`budget breached: Nodes {
/// nodes: 250001 }`, `set DuplicateKeyPolicy in Options`) mean for a config file.
fn yaml_problem(e: &serde_saphyr::Error) -> Option<(String, &'static str)> {
    use serde_saphyr::budget::BudgetBreach as B;
    use serde_saphyr::Error as E;
    let mut inner = e;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = inner {
        inner = error;
    }
    let too_large = (
        format!("the config is too large: more than {MAX_CONFIG_NODES} values once its aliases (`*name`) are expanded"),
        "a config lists groups, fields and roles and never needs this many values; look for aliases that repeat large parts of the document",
    );
    let too_deep = (
        format!("the config is nested too deeply: more than {MAX_CONFIG_DEPTH} levels"),
        "a config is a few levels deep; look for an unclosed `[` or `{`, or aliases that nest in each other",
    );
    Some(match inner {
        E::DuplicateMappingKey { key, .. } => (
            match key {
                Some(k) => format!(
                    "the key `{}` appears twice in the same mapping",
                    crate::diag::name_excerpt(k)
                ),
                None => "a key appears twice in the same mapping".into(),
            },
            "YAML keeps only one of the two: remove one, or merge them",
        ),
        E::Budget {
            breach: B::Depth { .. },
            ..
        }
        | E::AliasReplayStackDepthExceeded { .. } => too_deep,
        E::Budget { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => too_large,
        _ if e.to_string().contains("recursion limit") => too_deep,
        E::NonFiniteFloat { .. } => (
            "`.inf` and `.nan` are not numbers a config takes".into(),
            "write a whole number (a limit may also be a share such as \"10%\", or `false` for no limit)",
        ),
        _ => return None,
    })
}

fn yaml_error(src: &Source, e: &serde_saphyr::Error) -> SourceError {
    let located = |message: String| match e.location() {
        Some(loc) if loc.line() > 0 => SourceError::at(
            "roster::config::yaml",
            src,
            loc.line() as usize,
            loc.column().max(1) as usize,
            message,
        ),
        _ => SourceError::new("roster::config::yaml", src, (0, 0), message),
    };
    if let Some((message, help)) = yaml_problem(e) {
        return located(message).label("here").help(help);
    }
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
    located(first)
        .label("here")
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
                        || (k.value == "client_secret" && path.ends_with(&keys(&["entra"])))
                        || (path.ends_with(&keys(&["scim", "headers"]))
                            && super::is_auth_like_header(&k.value));
                    if is_secret_key && matches!(v.value, Node::Str(_) | Node::Int(_)) {
                        let span = span_of(v, self.src);
                        self.push(
                            span,
                            "roster::config::literal_secret",
                            format!("`{}` is written in the config: secrets never live in YAML", inline(&k.value)),
                            "a literal secret",
                            format!("use `{0}: {{ env: NAME }}` or `{0}: {{ file: PATH }}`, and remove this value from the repository's history", inline(&k.value)),
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

    /// The policy's numbers, checked as written: the schema takes `1e3` for a whole number and
    /// serde's words are its own, so a count must be a whole number and a share at most 100%
    /// (`"150%"` is a mistyped `"15%"`, and would turn the limit off). The same for each kind of
    /// change under `policy.unattended`.
    fn policy_numbers(&mut self) {
        let Node::Map(top) = &self.root.value else {
            return;
        };
        let Some((_, policy)) = top.iter().find(|(k, _)| k.value == "policy") else {
            return;
        };
        let Node::Map(entries) = &policy.value else {
            return;
        };
        for (k, v) in entries {
            let key = k.value.as_str();
            match (key, &v.value) {
                ("unattended", Node::Map(kinds)) => {
                    for (kind, v) in kinds {
                        self.policy_number(&keys(&["policy", key, &kind.value]), v);
                    }
                }
                ("unattended", _) => {
                    self.push(
                        span_of(v, self.src),
                        "roster::config::invalid",
                        "`policy.unattended` takes a mapping: each kind of change (create, link, rename, update, reactivate, block, clear, grant, revoke) with what an unattended run may apply of it".into(),
                        "this value",
                        "for example `unattended: { block: 10, rename: false }`; a kind left out keeps its default (see the safety policy in the README)".into(),
                    );
                    self.prune.push(keys(&["policy", key]));
                }
                _ => self.policy_number(&keys(&["policy", key]), v),
            }
        }
    }

    /// One number of the policy at `path` (see [`Problems::policy_numbers`]).
    fn policy_number(&mut self, path: &[Seg], v: &Spanned<Node>) {
        let where_ = describe(path);
        let Some(Seg::Key(key)) = path.last() else {
            return;
        };
        let problem = match key.as_str() {
            "licences" | "min_sysadmins" if path.len() == 2 => {
                let (max, example) = if key == "licences" {
                    (u64::MAX, 250)
                } else {
                    (u64::from(u32::MAX), 2)
                };
                match &v.value {
                    Node::Null => None,
                    Node::Int(i) if u64::try_from(*i).is_ok_and(|n| n <= max) => None,
                    _ => Some((
                        format!("{where_} takes a whole number (0 or more)"),
                        format!(
                            "for example `{key}: {example}`; see the safety policy in the README"
                        ),
                    )),
                }
            }
            _ => {
                let Some(limit) = limit_kind(path) else {
                    return;
                };
                let share = match &v.value {
                    Node::Str(s) => share_percent(s),
                    _ => None,
                };
                match (&v.value, share) {
                    (Node::Null, _) if limit.null => None,
                    (Node::Bool(false), _) if limit.off.is_some() => None,
                    (Node::Bool(true), _) if limit.all => None,
                    (Node::Int(i), _) if *i >= 0 => None,
                    (_, Some(p)) if p <= 100.0 => None,
                    (_, Some(_)) => Some((
                        format!("invalid share for {where_}: a share is at most 100%"),
                        match limit.off {
                            Some(off) => format!(
                                "use `{key}: false` to {off}, or a share such as `{key}: \"15%\"`"
                            ),
                            None => format!("write a share such as `{key}: \"20%\"`"),
                        },
                    )),
                    _ => Some((
                        format!("invalid value for {where_}: it takes {}", limit.takes),
                        format!(
                            "for example {}; see the safety policy in the README",
                            limit.example
                        ),
                    )),
                }
            }
        };
        if let Some((message, help)) = problem {
            self.push(
                span_of(v, self.src),
                "roster::config::invalid",
                message,
                "this value",
                help,
            );
            self.prune.push(path.to_vec());
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
                        if known.contains(&key) {
                            // `unevaluatedProperties` names a key that only a failed branch
                            // knows (an invalid `ldap:`): that branch's error says what is wrong.
                            continue;
                        }
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
                            format!("unknown key `{}` in {where_}", inline(&key)),
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
                IssueKind::NoChoice | IssueKind::SeveralChoices => {
                    // The keys and what each is for, from the schema alone: a new kind of
                    // source (one more key under `directory`) needs no text here.
                    let choices = choices(&schema, &path);
                    let listed = choices
                        .iter()
                        .map(|(k, _)| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" or ");
                    let described = described(&choices);
                    if matches!(kind, IssueKind::NoChoice) {
                        let span = if path.is_empty() {
                            Span { offset: 0, len: 0 }
                        } else {
                            found.key.unwrap_or(found.value)
                        };
                        let help =
                            format!("add one of them: {described}; `roster schema` describes each");
                        self.push(
                            span,
                            "roster::config::missing_key",
                            format!("{where_} needs one of {listed}"),
                            "in this mapping",
                            help,
                        );
                        continue;
                    }
                    // On the second key written: the first one is the one to keep, or not.
                    let written: Vec<&String> = choices
                        .iter()
                        .map(|(k, _)| k)
                        .filter(|k| {
                            let mut p = path.clone();
                            p.push(Seg::Key((*k).clone()));
                            pointer(json, &p).is_some()
                        })
                        .collect();
                    let mut second = path.clone();
                    second.push(Seg::Key(
                        written.get(1).map(|k| (*k).clone()).unwrap_or_default(),
                    ));
                    let f = find(self.root, &second, self.src);
                    let named: Vec<String> = written.iter().map(|k| format!("`{k}`")).collect();
                    let both = match named.as_slice() {
                        [a, b] => format!("both {a} and {b}"),
                        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
                        [] => String::new(),
                    };
                    let help = format!("keep one of them: {described}");
                    self.push(
                        f.key.unwrap_or(f.value),
                        "roster::config::invalid",
                        format!("{where_} has {both}: it takes one of {listed}"),
                        "here",
                        help,
                    );
                }
                IssueKind::Other => {
                    self.prune.push(path.clone());
                    let (message, help) = match limit_kind(&path) {
                        Some(limit) => (
                            format!("invalid value for {where_}: it takes {}", limit.takes),
                            format!(
                                "for example {}; see the safety policy in the README",
                                limit.example
                            ),
                        ),
                        None => (
                            format!("invalid value for {where_}: {message}"),
                            "see the config reference in the README, or `roster schema`".into(),
                        ),
                    };
                    self.push(
                        found.value,
                        "roster::config::invalid",
                        message,
                        "this value",
                        help,
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
        match (&c.intranet.snapshot, &c.intranet.scim) {
            (Some(_), Some(_)) => self.at(&keys(&["intranet", "scim"]), true, "`intranet` has both `snapshot` and `scim`", "keep one: `snapshot` for offline JSON, `scim` for the live intranet"),
            (None, None) => self.at(&keys(&["intranet"]), true, "`intranet` needs `snapshot` or `scim`", "add `snapshot: intranet.json` (offline) or `scim: { url: ..., token: { env: ... } }` (live)"),
            _ => {}
        }
        // A data file that is a secret's file would be parsed, and its text shown in a
        // diagnostic: the LDAP password file given as the intranet snapshot, say.
        let secret_files: Vec<(&str, &Path)> = [
            c.directory.source.secret(),
            c.intranet
                .scim
                .as_ref()
                .map(|s| ("intranet.scim.token", &s.token)),
        ]
        .into_iter()
        .flatten()
        .filter_map(|(name, secret)| match secret {
            super::Secret::File(p) => Some((name, p.as_path())),
            _ => None,
        })
        .collect();
        for (path, file) in [
            (
                ["directory", c.directory.source.key()],
                c.directory.source.file(),
            ),
            (["intranet", "snapshot"], c.intranet.snapshot.as_deref()),
        ] {
            let Some(file) = file else { continue };
            if let Some((secret, _)) = secret_files.iter().find(|(_, s)| same_path(s, file)) {
                self.at(&keys(&path), false, &format!("`{}` names the file that holds `{secret}`", path.join(".")), "a snapshot is data Roster parses and may quote in a diagnostic: point it at the LDIF or JSON snapshot, never at a secret's file");
            }
        }
        if matches!(c.directory.disabled, Some(super::DisabledRule::Filter(_)))
            && c.directory.source.ldap().is_none()
        {
            self.at(&keys(&["directory", "disabled"]), false, "`disabled: { filter: ... }` is evaluated by the LDAP server", &format!("use `attribute:` (with the `values:` that mean disabled) or `active_directory` with a `{}` source, or read the live directory with `ldap:`", c.directory.source.key()));
        }
        // A CSV cell always holds text ("active", "terminated"): without `values`, any value but
        // FALSE would mean disabled, and every active person would be blocked.
        if let (super::SourceConfig::Csv(_), Some(super::DisabledRule::Attribute(a))) =
            (&c.directory.source, &c.directory.disabled)
        {
            if a.values.is_empty() {
                self.at(&keys(&["directory", "disabled"]), false, &format!("a `csv` disabled column needs the `values` that mean disabled: without them, any value in `{}` but FALSE (`active` too) means disabled", inline(&a.name)), &format!("write `disabled: {{ attribute: {}, values: [terminated, leave] }}` with the values your export uses", inline(&a.name)));
            }
        }
        for (attr_key, attr) in [
            ("id_attribute", &c.directory.id_attribute()),
            ("username_attribute", &c.directory.username_attribute()),
        ] {
            if is_password_attribute(attr) {
                self.at(&keys(&["directory", attr_key]), false, &format!("`{}` is a password attribute", inline(attr)), "passwords belong to the directory: Roster never reads, maps, logs or writes them");
            }
            if attr.trim().is_empty() {
                let source = c.directory.source.key();
                self.at(&keys(&["directory", source]), false, &format!("`directory.{attr_key}` is required with `{source}`"), &format!("name the attribute (column) that holds it: a `{source}` source has no default"));
            }
        }
        if c.syncing_groups.is_empty() {
            self.at(&keys(&["syncing_groups"]), false, "no syncing groups: nobody would get an account and every managed account would be blocked", "list the groups whose members get intranet accounts, as the directory names them");
        }
        let mut dn_lists: Vec<(Vec<Seg>, &Vec<super::GroupRef>)> =
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
        if let super::SourceConfig::Entra(entra) = &c.directory.source {
            self.entra(entra);
        }
        // A source whose groups are not DNs (CSV names, Entra ID object IDs) has nothing to
        // check here.
        let by_dn = c.directory.source.groups_by_dn();
        for (path, list) in dn_lists.into_iter().filter(|_| by_dn) {
            for (i, group) in list.iter().enumerate() {
                let dn = group.name();
                if !dn.contains(['=']) || (!dn.contains(',') && list.len() > 1) {
                    let p = group_path(&path, i, group);
                    self.at(&p, false, &format!("`{}` is not a full group DN", inline(dn)), "in a flow list `[a, b]` YAML splits at every comma, and DNs have commas: write one DN per line (`- cn=...,dc=...`) or quote each DN");
                }
            }
        }
        let vocabulary: Vec<String> = VOCABULARY.iter().map(|(n, _)| (*n).to_owned()).collect();
        for (field, mapping) in &c.field_mappings {
            let path = keys(&["field_mappings", field]);
            if field.eq_ignore_ascii_case("password")
                || field.to_ascii_lowercase().contains("password")
            {
                self.at(&path, true, &format!("`{}` cannot be mapped: passwords belong to the directory", inline(field)), "Roster never reads, maps, logs or writes passwords; users sign in against the directory");
                continue;
            }
            if field == "username" {
                self.at(
                    &path,
                    true,
                    "`username` is not a mapped field",
                    "the username comes from `directory.username_attribute()`",
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
                    format!("unknown intranet field `{}`", inline(field)),
                    "not an intranet field",
                    help,
                );
                continue;
            }
            let value_path = match mapping {
                super::Mapping::Simple(_) => path.clone(),
                super::Mapping::Detailed(_) => keys(&["field_mappings", field, "from"]),
            };
            match Template::parse_for(mapping, c.directory.source.attribute_names()) {
                Err((msg, _)) => self.at(&value_path, false, &msg, "a mapping is an attribute name (`mail`) or a template (`\"{givenName} {sn}\"`)"),
                Ok(t) => {
                    for attr in t.attributes() {
                        let base = attr.split(';').next().unwrap_or(attr).to_ascii_lowercase();
                        if is_password_attribute(attr) {
                            let f = find(self.root, &value_path, self.src);
                            self.push(f.value, "roster::config::password_mapping", format!("`{}` is a password attribute and cannot be mapped", inline(attr)), "a password attribute", "passwords belong to the directory: Roster never reads, maps, logs or writes them".into());
                        } else if BINARY_ATTRIBUTES.contains(&base.as_str()) {
                            self.at(&value_path, false, &format!("`{}` holds binary data, not text", inline(attr)), "map a text attribute; binary attributes are never mapped as text");
                        }
                    }
                }
            }
        }
        self.same_scim_attribute(c);
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
                self.at(&keys(&["admin_roles", name, "members"]), false, &format!("role `{}` has no members: every holder would be revoked", inline(name)), "list `groups:` and/or `users:`; the IT team that runs the sync should hold the admin roles");
            }
        }
    }
}

impl Problems<'_> {
    /// Two fields that write one SCIM attribute (or one inside the other) never converge: each
    /// plan writes one value over the other's.
    /// `directory.entra`: one credential, and only the one Roster supports.
    fn entra(&mut self, e: &super::EntraConfig) {
        let at = |k: &str| keys(&["directory", "entra", k]);
        match (&e.client_secret, &e.certificate) {
            (Some(_), Some(_)) => self.at(&at("certificate"), true, "`directory.entra` has both `client_secret` and `certificate`", "keep one: the app signs in with its client secret or with its certificate"),
            (None, None) => self.at(&keys(&["directory", "entra"]), true, "`directory.entra` needs `client_secret` or `certificate`", "add `client_secret: { env: ROSTER_ENTRA_SECRET }` (or `{ file: PATH }`), or `certificate: { file: app.pem }` (the app's RSA key and certificate in one PEM file)"),
            _ => {}
        }
        for (key, url) in [("authority", &e.authority), ("graph_url", &e.graph_url)] {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {}
                _ => self.at(&at(key), false, &format!("`directory.entra.{key}` is not an http(s) URL"), "write the full URL, e.g. `https://login.microsoftonline.com` or `https://graph.microsoft.com/v1.0`"),
            }
        }
        for (key, value) in [("tenant_id", &e.tenant_id), ("client_id", &e.client_id)] {
            if value.trim().is_empty()
                || !value
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '.' | '_'))
            {
                self.at(&at(key), false, &format!("`directory.entra.{key}` is not an ID"), "copy it from the app registration's Overview page: a GUID such as `8f1c3e9a-...` (a tenant may also be written as its domain, `contoso.onmicrosoft.com`)");
            }
        }
    }

    fn same_scim_attribute(&mut self, c: &Config) {
        // In the file's order, each with its SCIM path as shown and as compared.
        let mut written: Vec<(Span, &String, String, String)> = c
            .field_mappings
            .keys()
            .filter_map(|f| {
                let (shown, key) = scim_key(&Field::parse(f)?);
                let found = find(self.root, &keys(&["field_mappings", f]), self.src);
                Some((found.key.unwrap_or(found.value), f, shown, key))
            })
            .collect();
        written.sort_by_key(|w| w.0.offset);
        for (i, (sa, a, ka, ca)) in written.iter().enumerate() {
            for (sb, b, kb, cb) in &written[i + 1..] {
                let inside = |outer: &str, inner: &str| {
                    inner
                        .strip_prefix(outer)
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
                };
                let how = if ca == cb {
                    format!(
                        "`{}` and `{}` both write the SCIM attribute `{}`",
                        inline(a),
                        inline(b),
                        inline(ka)
                    )
                } else if inside(ca, cb) || inside(cb, ca) {
                    format!("`{}` (SCIM `{}`) and `{}` (SCIM `{}`) write the same SCIM attribute, one inside the other", inline(a), inline(ka), inline(b), inline(kb))
                } else {
                    continue;
                };
                self.errors.push(
                    SourceError::new(
                        "roster::config::same_scim_attribute",
                        self.src,
                        (sa.offset, sa.len),
                        how,
                    )
                    .label("this field")
                    .also((sb.offset, sb.len), "and this one")
                    .help("each plan would write one value over the other, forever: keep one of the two mappings"),
                );
            }
        }
    }
}

/// A field's SCIM attribute path without the core schema's URN, as shown and in a form two
/// spellings of one attribute share: case-insensitive (as SCIM compares attribute names),
/// spaces normalised.
fn scim_key(field: &Field) -> (String, String) {
    let path = field.patch_path();
    let core = format!("{}:", crate::intranet::fields::CORE_USER);
    let shown = match path.get(..core.len()) {
        Some(p) if p.eq_ignore_ascii_case(&core) => path[core.len()..].to_owned(),
        _ => path,
    };
    let mut key = String::with_capacity(shown.len());
    for word in shown.to_ascii_lowercase().split_whitespace() {
        if !key.is_empty() && !key.ends_with('[') {
            key.push(' ');
        }
        key.push_str(word);
    }
    (shown, key.replace(" ]", "]"))
}

/// Where a configured group's name is: the list item, or its `group:` (or `dn:`) in the
/// detailed form.
pub fn group_path(list: &[Seg], i: usize, group: &super::GroupRef) -> Vec<Seg> {
    let mut p = list.to_vec();
    p.push(Seg::Index(i));
    if matches!(group, super::GroupRef::Detailed(_)) {
        p.push(Seg::Key("group".into()));
    }
    p
}

/// The span of the value at `path` in config text (the deepest node that exists), for
/// diagnostics raised after loading.
pub fn locate(src: &Source, path: &[Seg]) -> Option<Span> {
    let root: Spanned<Node> = serde_saphyr::from_str(&src.text).ok()?;
    Some(find(&root, path, src).value)
}

enum IssueKind {
    Unknown(Vec<String>),
    Required(String),
    /// None of the keys of a choice (`oneOf` of one required key each) is there.
    NoChoice,
    /// More than one of them is.
    SeveralChoices,
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
        K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
            IssueKind::Unknown(unexpected)
        }
        K::OneOfMultipleValid { .. } => IssueKind::SeveralChoices,
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
            // A branch that failed only for want of its own key (`ldap` when the config has
            // `ldif`) was not the one meant: when none was meant, say which keys are allowed.
            let unchosen = |b: &Vec<jsonschema::ValidationError<'static>>| {
                b.iter().all(|e| {
                    matches!(e.kind(), K::Required { .. }) && e.instance_path().as_str() == here
                })
            };
            let candidates: Vec<_> = context
                .into_iter()
                .filter(|b| !b.is_empty() && !shallow(b))
                .collect();
            let unchosen_count = candidates.iter().filter(|b| unchosen(b)).count();
            if unchosen_count > 1 && unchosen_count == candidates.len() {
                out.push(Issue {
                    path,
                    kind: IssueKind::NoChoice,
                    message,
                });
                return;
            }
            let chosen = candidates.iter().any(|b| !unchosen(b));
            let best = candidates
                .into_iter()
                .filter(|b| !chosen || !unchosen(b))
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

/// The same path, written differently (`./a` and `a`, `x/../a` and `a`), without the disk.
fn same_path(a: &Path, b: &Path) -> bool {
    fn norm(p: &Path) -> Vec<std::path::Component<'_>> {
        let mut out = Vec::new();
        for c in p.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir
                    if matches!(out.last(), Some(std::path::Component::Normal(_))) =>
                {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        out
    }
    norm(a) == norm(b)
}

/// What a policy limit takes: in words, an example, what `false` means (when it is allowed)
/// and whether `true` is.
struct LimitKind {
    takes: &'static str,
    example: String,
    /// What `false` does, when it may be written.
    off: Option<&'static str>,
    /// `null` may be written (the default).
    null: bool,
    /// `true` may be written (any number).
    all: bool,
}

/// What a policy limit at `path` takes, when it is one.
fn limit_kind(path: &[Seg]) -> Option<LimitKind> {
    let k = match path {
        [Seg::Key(p), Seg::Key(k)] if p == "policy" => k.as_str(),
        [Seg::Key(p), Seg::Key(u), Seg::Key(k)] if p == "policy" && u == "unattended" => {
            let k = k.as_str();
            let known = k == "clear" || crate::plan::Action::ALL.iter().any(|a| a.name() == k);
            return known.then(|| LimitKind {
                    takes: "`true` (any number), `false` (never unattended), a count (`3`) or a share (`\"1%\"`)",
                    example: format!("`{k}: true`, `{k}: false`, `{k}: 3` or `{k}: \"1%\"`"),
                    off: Some("leave it to a person"),
                    null: false,
                    all: true,
                });
        }
        _ => return None,
    };
    match k {
        "max_blocks" | "max_clears" | "max_revokes" | "max_renames" => Some(LimitKind {
            takes: "a count (`25`), a share (`\"10%\"`), or `false` for no limit",
            example: format!("`{k}: 25`, `{k}: \"10%\"` or `{k}: false`"),
            off: Some("turn the limit off"),
            null: true,
            all: false,
        }),
        "max_vanished" => Some(LimitKind {
            takes: "a count (`25`) or a share (`\"10%\"`)",
            example: format!("`{k}: 25` or `{k}: \"20%\"`"),
            off: None,
            null: false,
            all: false,
        }),
        _ => None,
    }
}

/// The percentage a share (`"12.5%"`) stands for, when it is written as one.
fn share_percent(s: &str) -> Option<f64> {
    let n = s.strip_suffix('%')?;
    let (whole, frac) = n.split_once('.').unwrap_or((n, "0"));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(frac))
        .then(|| n.parse().ok())
        .flatten()
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

fn pointer<'a>(json: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(json, |v, seg| match (v, seg) {
        (Value::Object(m), Seg::Key(k)) => m.get(k),
        (Value::Array(a), Seg::Index(i)) => a.get(*i),
        _ => None,
    })
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
                s.push_str(&crate::text::escape(k));
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    format!("`{s}`")
}

/// Keys the schema allows at an object path (following $ref, properties, items, anyOf/oneOf).
fn known_keys(schema: &Value, path: &[Seg]) -> Vec<String> {
    let mut keys: Vec<String> = schemas_at(schema, path)
        .into_iter()
        .filter_map(|s| s.get("properties").and_then(Value::as_object))
        .flat_map(|p| p.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The keys of a choice at an object path: `oneOf` branches that each require one key (the
/// source kinds under `directory`, `env`/`file` of a secret), in schema order, each with the
/// first sentence of its branch's description, if it has one.
fn choices(schema: &Value, path: &[Seg]) -> Vec<(String, Option<String>)> {
    let mut keys: Vec<(String, Option<String>)> = Vec::new();
    for s in schemas_at(schema, path) {
        for b in s
            .get("oneOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some([Value::String(k)]) = b
                .get("required")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
            {
                if !keys.iter().any(|(known, _)| known == k) {
                    let about = b.get("description").and_then(Value::as_str).map(|d| {
                        let first = d.split(". ").next().unwrap_or(d).trim_end_matches('.');
                        let mut chars = first.chars();
                        // "Live directory" → "live directory", "A CSV file" → "a CSV file";
                        // "Microsoft Entra ID" keeps its capital (a proper noun: its second
                        // word is a capitalised word, not an acronym).
                        let proper = first.split_whitespace().nth(1).is_some_and(|w| {
                            w.starts_with(char::is_uppercase) && w.chars().any(char::is_lowercase)
                        });
                        match chars.next() {
                            Some(c) if !proper => c.to_lowercase().chain(chars).collect(),
                            _ => first.to_owned(),
                        }
                    });
                    keys.push((k.clone(), about));
                }
            }
        }
    }
    keys
}

/// Choices in words: `` `ldif` (offline snapshot: …) or `ldap` (live directory over LDAP) ``.
fn described(choices: &[(String, Option<String>)]) -> String {
    choices
        .iter()
        .map(|(k, about)| match about {
            Some(a) => format!("`{k}` ({})", a.replace('\n', " ")),
            None => format!("`{k}`"),
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Every schema (branches included) that applies at an object path.
fn schemas_at<'a>(schema: &'a Value, path: &[Seg]) -> Vec<&'a Value> {
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
    current
        .into_iter()
        .flat_map(|s| branches(schema, s))
        .collect()
}

/// The closest known name, if one is close enough to be a typo.
pub fn suggest(word: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| {
            let (w, k_) = (word.to_ascii_lowercase(), k.to_ascii_lowercase());
            // Jaro-Winkler misses a short word's typo (`cvs` for `csv` scores 0.56): one edit
            // or swap in a word of three letters or more counts as close too.
            let one_edit = w.len() >= 3 && strsim::osa_distance(&w, &k_) == 1;
            let score = strsim::jaro_winkler(&w, &k_).max(if one_edit { 0.85 } else { 0.0 });
            (score, k)
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}

#[cfg(test)]
mod suggest_tests {
    use super::suggest;

    #[test]
    fn a_short_words_swap_or_slip_is_suggested_and_a_stranger_is_not() {
        let known: Vec<String> = ["csv", "ldap", "ldif", "entra"].map(String::from).to_vec();
        assert_eq!(suggest("cvs", &known).as_deref(), Some("csv"));
        assert_eq!(suggest("ldpa", &known).as_deref(), Some("ldap"));
        assert_eq!(suggest("entr", &known).as_deref(), Some("entra"));
        assert_eq!(suggest("xyz", &known), None);
        assert_eq!(suggest("ab", &["ac".to_owned()]), None);
    }
}
