//! Reading a secret (`{ env: NAME }` or `{ file: PATH }`): one place for the LDAP password and
//! the SCIM token. The value is trimmed; an empty one is an error. Callers wrap the value in a
//! type whose `Debug` redacts it, and never print it.

use std::ops::Range;
use std::path::Path;

use super::Secret;

/// Why a secret could not be read: where it was looked for, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError {
    /// `environment variable ROSTER_SCIM_TOKEN`, `file /etc/roster/ldap.pw`.
    pub source_name: String,
    pub problem: String,
    /// What to do about it, in the user's terms: `export ROSTER_SCIM_TOKEN=...`.
    pub fix: String,
}

impl Secret {
    /// Where the secret is read from, for messages: `environment variable ROSTER_SCIM_TOKEN`,
    /// `file /etc/roster/token`.
    pub fn source_name(&self, base_dir: &Path) -> String {
        match self {
            Secret::Env(var) => format!("environment variable {}", crate::text::shown(var)),
            Secret::File(path) => format!(
                "file {}",
                crate::text::shown(&base_dir.join(path).display().to_string())
            ),
        }
    }

    /// Read the secret: from the environment (through `env`, so tests need not touch the
    /// process environment), or from a file relative to `base_dir`.
    pub fn read(
        &self,
        base_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<String, SecretError> {
        let source_name = self.source_name(base_dir);
        let (source_name, value) = match self {
            Secret::Env(var) => {
                let name = source_name;
                match env(var) {
                    Some(v) => (name, v),
                    None => {
                        return Err(SecretError {
                            source_name: name,
                            problem: "it is not set (or not UTF-8)".into(),
                            fix: format!(
                                "export {}=... in the shell that runs Roster (in CI, map a repository secret to it), or point the key at a file with `{{ file: path }}`",
                                crate::text::shown(var)
                            ),
                        })
                    }
                }
            }
            Secret::File(path) => {
                let path = base_dir.join(path);
                let name = source_name;
                match std::fs::read_to_string(&path) {
                    Ok(text) => (name, text),
                    Err(e) => {
                        return Err(SecretError {
                            source_name: name,
                            problem: e.to_string(),
                            fix: "create the file with the secret (readable by the user that runs Roster only), or read it from the environment with `{ env: VAR }`".into(),
                        })
                    }
                }
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError {
                source_name,
                problem: "it is empty".into(),
                fix: "put the secret's value in it".into(),
            });
        }
        Ok(value.to_owned())
    }
}

/// Every secret `config` names that cannot be read (where it is configured, and why), so that
/// a run missing several says so once rather than one per attempt.
pub fn unreadable(
    config: &super::Config,
    base_dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<(String, SecretError)> {
    let mut secrets: Vec<(String, &Secret)> = Vec::new();
    if let Some((name, secret)) = config.directory.source.secret() {
        secrets.push((name.to_owned(), secret));
    }
    if let Some(scim) = &config.intranet.scim {
        secrets.push(("intranet.scim.token".into(), &scim.token));
        for (name, header) in &scim.headers {
            if let super::HeaderSetting::Secret(secret) = header {
                secrets.push((format!("intranet.scim.headers.{name}"), secret));
            }
        }
    }
    secrets
        .into_iter()
        .filter_map(|(name, secret)| secret.read(base_dir, &env).err().map(|e| (name, e)))
        .collect()
}

/// Is this config key one whose value is a secret (`password`, `token`, `client_secret`,
/// `Authorization`, `api-key`, ...)? Such a value is never shown in a diagnostic.
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    k == "pwd"
        || k == "pass"
        || [
            "password",
            "passwd",
            "passphrase",
            "secret",
            "token",
            "apikey",
            "authorization",
            "credential",
            "privatekey",
            "cookie",
            "bearer",
        ]
        .iter()
        .any(|s| k.contains(s))
}

/// Byte ranges of the values written after a secret-like key (`password: x`, `token: "x"`,
/// `Authorization: Bearer x`), in block or flow YAML, found in the text itself so that a file
/// that does not even parse never shows them either. A mapping (`{ env: NAME }`), a list or an
/// alias is not a literal value and is left alone.
pub fn literal_ranges(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut offset = 0;
    // A key whose value may continue on the following, deeper lines: its indentation, and
    // whether those lines are known to be its text (`|`, `>`) rather than, maybe, a mapping.
    let mut block: Option<(usize, bool)> = None;
    let mut mappings = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start().len();
        // `field_mappings` maps intranet fields to attribute names: `password: userPassword`
        // there is a mistake to show, not a secret.
        if indent == 0 && !body.is_empty() && !body.starts_with('#') {
            mappings = body.starts_with("field_mappings:");
        }
        if mappings {
            offset += line.len();
            continue;
        }
        if let Some((key_indent, text_lines)) = block {
            let deeper = body.trim().is_empty() || indent > key_indent;
            let nested = !text_lines && {
                let t = body.trim_start();
                t.starts_with("- ")
                    || t.split_once(':').is_some_and(|(k, v)| {
                        !k.contains(' ') && (v.is_empty() || v.starts_with(' '))
                    })
            };
            if deeper && !nested {
                out.push(offset + indent..offset + body.len());
                block = Some((key_indent, true));
                offset += line.len();
                continue;
            }
            block = None;
        }
        for (start, flow) in key_starts(body) {
            if let Some(found) = value_after_key(body, start, flow) {
                match found {
                    Value::Range(r) => out.push(offset + r.start..offset + r.end),
                    Value::Block(text_lines) => block = Some((indent, text_lines)),
                }
            }
        }
        offset += line.len();
    }
    out.retain(|r| r.start < r.end);
    out
}

/// Where keys may start on a line: after the indentation (and a `- `), and after `{` or `,`
/// (flow mappings: `{ url: ..., token: ... }`), with whether the key is inside a flow.
fn key_starts(line: &str) -> Vec<(usize, bool)> {
    let mut starts = Vec::new();
    let skip = |from: usize| from + (line[from..].len() - line[from..].trim_start().len());
    let mut first = skip(0);
    while line[first..].starts_with("- ") {
        first = skip(first + 1);
    }
    starts.push((first, false));
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '{' | ',') => starts.push((skip(i + 1), true)),
            (None, '#') if i == 0 || line[..i].ends_with(' ') => break,
            _ => {}
        }
    }
    starts
}

enum Value {
    Range(Range<usize>),
    /// `key: |`, `key: >` (true) or `key:` (false, maybe a mapping) with the value on the
    /// deeper lines below.
    Block(bool),
}

fn value_after_key(line: &str, start: usize, flow: bool) -> Option<Value> {
    let rest = &line[start..];
    let (key, after) = match rest.chars().next()? {
        q @ ('"' | '\'') => {
            let close = rest[1..].find(q)? + 1;
            (&rest[1..close], close + 1)
        }
        _ => {
            let end = rest.find([':', ',', '{', '}', '[', ']', '#'])?;
            (rest[..end].trim_end(), end)
        }
    };
    if !is_secret_key(key) {
        return None;
    }
    let colon = after + (rest[after..].len() - rest[after..].trim_start().len());
    let tail = rest[colon..].strip_prefix(':')?;
    if !(tail.is_empty() || tail.starts_with([' ', '\t'])) {
        return None;
    }
    let mut v = start + colon + 1;
    v += line[v..].len() - line[v..].trim_start().len();
    // An anchor names the value that follows it.
    if line[v..].starts_with('&') {
        v += line[v..].find(' ').unwrap_or(line.len() - v);
        v += line[v..].len() - line[v..].trim_start().len();
    }
    let value = &line[v..];
    match value.chars().next() {
        None if !flow => Some(Value::Block(false)),
        None | Some('{' | '[' | '*' | '#') => None,
        Some('|' | '>') => Some(Value::Block(true)),
        Some(q @ ('"' | '\'')) => {
            let close = closing_quote(&value[1..], q).map_or(value.len(), |i| i + 1);
            Some(Value::Range(v + 1..v + close))
        }
        Some(_) => {
            let mut end = value.len();
            if flow {
                end = end.min(value.find([',', '}', ']']).unwrap_or(end));
            }
            end = end.min(value.find(" #").unwrap_or(end));
            Some(Value::Range(v..v + value[..end].trim_end().len()))
        }
    }
}

/// The closing quote of a quoted scalar: `"` ends at an unescaped `"`, `'` at a `'` not
/// doubled.
fn closing_quote(s: &str, q: char) -> Option<usize> {
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if q == '"' => {
                chars.next();
            }
            c if c == q => {
                if q == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                    continue;
                }
                return Some(i);
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::literal_ranges;

    fn masked(text: &str) -> String {
        let mut b = text.as_bytes().to_vec();
        for r in literal_ranges(text) {
            b[r].fill(b'*');
        }
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn literal_secret_values_are_found_in_block_and_flow_yaml() {
        assert_eq!(masked("  password: hunter2\n"), "  password: *******\n");
        assert_eq!(
            masked("scim: { url: \"http://x\", token: \"abc, d\" }\n"),
            "scim: { url: \"http://x\", token: \"******\" }\n"
        );
        assert_eq!(
            masked("  headers: { Authorization: Bearer xyz, X-Other: 1 }"),
            "  headers: { Authorization: **********, X-Other: 1 }"
        );
        assert_eq!(masked("  token: 'it''s' # note"), "  token: '*****' # note");
        assert_eq!(
            masked("  client_secret: |\n    line one\n    line two\nnext: 1\n"),
            "  client_secret: |\n    ********\n    ********\nnext: 1\n"
        );
        assert_eq!(masked("  token: &t abc\n"), "  token: &t ***\n");
        assert_eq!(
            masked("  password:\n    hunter2\n  next: 1\n"),
            "  password:\n    *******\n  next: 1\n"
        );
    }

    proptest::proptest! {
        /// Any text, however broken: the ranges are whole characters inside it, and masking
        /// them and showing any place in the result never panics.
        #[test]
        fn any_text_masks_and_shows_without_panicking(
            text in "((token|password|- |  |\n|x)(: ?)?[\"'{},#|>&*a-z\\ é\u{1F600}-]{0,6}){0,16}",
            at in 0usize..100,
        ) {
            let ranges = literal_ranges(&text);
            for r in &ranges {
                proptest::prop_assert!(r.start <= r.end && r.end <= text.len());
                proptest::prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
            }
            let src = crate::diag::Source::new(std::path::Path::new("t"), text.clone());
            let masked = src.masked(&ranges);
            proptest::prop_assert_eq!(masked.text.len(), text.len());
            let at = at.min(text.len());
            let e = crate::diag::SourceError::new("x", &masked, (at, 3), "m");
            let mut out = String::new();
            let _ = miette::GraphicalReportHandler::new().render_report(&mut out, &e);
        }
    }

    #[test]
    fn references_and_other_keys_are_left_alone() {
        for text in [
            "  password: { env: ROSTER_LDAP_PASSWORD }\n",
            "  token: { file: token.txt }\n",
            "  password:\n    file: pw.txt\n",
            "  url: ldaps://example.com\n",
            "  token: *alias\n",
            "  tokens_seen: [a, b]\n",
            "field_mappings:\n  password: userPassword\n",
        ] {
            assert_eq!(masked(text), text);
        }
    }
}
