//! Logs of what Roster says to the servers (`-v`, `-vv`, `ROSTER_LOG`), through `tracing`, on
//! stderr only: each HTTP and LDAP exchange at `debug`, the bodies too at `trace`. Secrets never
//! reach a log: headers are not logged at all, and a body goes out through [`Body`], which blanks
//! every value whose key names a password, secret, token or assertion, and any known secret's text.

use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tracing_subscriber::EnvFilter;

/// The environment variable holding an env-filter directive (`roster=debug`); it wins over `-v`.
pub const ENV: &str = "ROSTER_LOG";

/// The most of a body a log line shows, in bytes.
pub const MAX_BODY: usize = 4096;

const REDACTED: &str = "<redacted>";

static ON: AtomicBool = AtomicBool::new(false);

/// Is anything logged? Progress bars stay hidden then, so that log lines and a redrawn bar never
/// share a line on the terminal.
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Start logging to stderr: `ROSTER_LOG` when set, else `-v` (exchanges: `roster=debug`) or
/// `-vv` (and bodies: `roster=trace`); nothing without either.
pub fn init(verbose: u8) -> miette::Result<()> {
    let directive = match std::env::var(ENV) {
        Ok(d) if !d.trim().is_empty() => d,
        _ => match verbose {
            0 => return Ok(()),
            1 => "roster=debug".to_owned(),
            _ => "roster=trace".to_owned(),
        },
    };
    let filter = EnvFilter::builder().parse(&directive).map_err(|e| {
        miette::miette!(
            code = "roster::log",
            help = "ROSTER_LOG takes an env-filter directive, e.g. `roster=debug` (the exchanges) \
                    or `roster=trace` (and their bodies); unset it to use -v / -vv",
            "ROSTER_LOG={} is not a log filter: {e}",
            crate::text::shown(&directive)
        )
    })?;
    for target in unknown_targets(&directive) {
        crate::say!(
            "warning: ROSTER_LOG names the target {}, which no log line of Roster's has: Roster logs under `roster` (e.g. ROSTER_LOG=roster=debug), and its libraries under `ldap3`, `reqwest`, `hyper`, `rustls`",
            crate::text::shown(target)
        );
    }
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .try_init();
    ON.store(installed.is_ok(), Ordering::Relaxed);
    Ok(())
}

/// Where log lines come from: Roster's modules, and the libraries that speak to the servers.
const TARGETS: &[&str] = &[
    "roster",
    "ldap3",
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tokio",
];

/// The targets a directive names that no log line has (a typo such as `rooster=debug` would
/// otherwise log nothing, silently). A directive is `target=level`, `target`, a bare level, or
/// a span filter (`[span]`, `target[span]`): only the target part counts.
fn unknown_targets(directive: &str) -> Vec<&str> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    directive
        .split(',')
        .filter_map(|d| {
            let target = d.split(['=', '[']).next()?.trim();
            let known = target.is_empty()
                || LEVELS.contains(&target.to_ascii_lowercase().as_str())
                || target.parse::<u8>().is_ok()
                || TARGETS.iter().any(|t| {
                    target == *t
                        || target
                            .strip_prefix(t)
                            .is_some_and(|rest| rest.starts_with("::"))
                });
            (!known).then_some(target)
        })
        .collect()
}

/// A request or response body as a log shows it (formatted only when the line is logged):
/// JSON or a form with every secret-named value blanked, the `scrub` texts blanked wherever they
/// stand, cut at [`MAX_BODY`]. Other text is shown only when it names no secret.
pub struct Body<'a> {
    pub text: &'a str,
    /// A secret value known to the caller (the bearer token), blanked wherever it appears.
    pub scrub: Option<&'a str>,
}

impl fmt::Display for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redacted_body(self.text, self.scrub))
    }
}

/// Does a key (JSON member, form field) name a secret?
fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "assertion", "authorization"]
        .iter()
        .any(|s| k.contains(s))
}

fn redact_json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                // An object under a secret's name describes it (`changePassword: {supported}`);
                // a value is blanked.
                if secret_key(k) && !v.is_object() {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// `a=1&b=2`, nothing else (no spaces, no line breaks).
fn is_form(text: &str) -> bool {
    text.contains('=')
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c == '{' || c == '"')
}

fn redacted_body(text: &str, scrub: Option<&str>) -> String {
    if text.is_empty() {
        return "(empty)".into();
    }
    let mut shown = if let Ok(mut v) = serde_json::from_str::<Value>(text) {
        redact_json(&mut v);
        v.to_string()
    } else if is_form(text) {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            out.append_pair(&k, if secret_key(&k) { REDACTED } else { &v });
        }
        out.finish()
    } else if secret_key(text) {
        // Not JSON (cut short, or HTML): its secret values cannot be told apart from the rest.
        return format!(
            "({} bytes, not shown: not JSON, and it names a password, secret or token)",
            text.len()
        );
    } else {
        crate::text::shown(text).into_owned()
    };
    if let Some(s) = scrub.filter(|s| s.len() >= 4) {
        shown = shown.replace(s, REDACTED);
    }
    if shown.len() > MAX_BODY {
        let mut end = MAX_BODY;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        let more = shown.len() - end;
        shown.truncate(end);
        shown.push_str(&format!("… ({more} more bytes)"));
    }
    shown
}

/// Milliseconds since `start`, for the `ms` field of an exchange.
pub fn ms(start: std::time::Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_target_no_log_line_has_is_named() {
        assert!(unknown_targets("roster=debug").is_empty());
        assert!(unknown_targets("debug,roster::intranet=trace,ldap3=info").is_empty());
        assert!(unknown_targets("roster[request]=trace,warn,[span]=debug").is_empty());
        assert_eq!(unknown_targets("rooster=debug"), ["rooster"]);
        assert_eq!(unknown_targets("roster=debug,scim=trace"), ["scim"]);
        // `rosterx` is not under `roster`.
        assert_eq!(unknown_targets("rosterx=debug"), ["rosterx"]);
    }

    use super::*;

    fn shown(text: &str, scrub: Option<&str>) -> String {
        Body { text, scrub }.to_string()
    }

    #[test]
    fn secrets_are_blanked_in_json_forms_and_text() {
        let json = r#"{"userName":"ada","password":"hunter2","x":[{"access_token":"abc"}],
            "secrets":["s1"],"changePassword":{"supported":true}}"#;
        let s = shown(json, None);
        assert!(
            !s.contains("hunter2") && !s.contains("abc") && !s.contains("s1"),
            "{s}"
        );
        assert!(s.contains(r#""changePassword":{"supported":true}"#), "{s}");
        assert!(s.contains("\"userName\":\"ada\""), "{s}");
        let form = "client_id=c&client_secret=s3cr3t&client_assertion=eyJx&scope=a";
        let s = shown(form, None);
        assert!(!s.contains("s3cr3t") && !s.contains("eyJx"), "{s}");
        assert!(s.contains("client_id=c"), "{s}");
        let s = shown("<html>the token is sekrit-value</html>", None);
        assert!(!s.contains("sekrit"), "{s}");
        let s = shown(r#"{"detail":"bad Bearer abcd1234"}"#, Some("abcd1234"));
        assert!(!s.contains("abcd1234"), "{s}");
    }

    #[test]
    fn a_long_body_is_cut() {
        let long = format!("\"{}\"", "é".repeat(10_000));
        let s = shown(&long, None);
        assert!(s.len() < MAX_BODY + 40, "{}", s.len());
        assert!(s.ends_with("more bytes)"), "{s}");
    }
}
