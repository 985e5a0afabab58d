//! Hostile text from the directory and the intranet, end to end: the plan of the hostile-input
//! case `escape_hostile_text` (newlines, NUL, ANSI/OSC sequences, bidi controls and HTML in
//! usernames and values) drawn in colour and as JSON.

use std::path::Path;

use crate::cli::roster;

/// The hostile case's config, LDIF and intranet snapshot, in a temporary folder.
fn hostile_case() -> tempfile::TempDir {
    let case =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile/escape_hostile_text");
    let dir = tempfile::tempdir().unwrap();
    for name in ["roster.yaml", "directory.ldif", "intranet.json"] {
        std::fs::copy(case.join(name), dir.path().join(name)).unwrap();
    }
    dir
}

/// `s` without the SGR colour sequences (`ESC [ digits ; m`) Roster adds.
fn without_colour(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[end..].starts_with('m') {
            rest = &after[end + 1..];
        } else {
            // Not a colour: keep it, so the check below finds it.
            out.push_str("\x1b[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn color_always_sends_no_escape_sequence_but_roster_colours() {
    let dir = hostile_case();
    let r = roster(dir.path(), &["plan", "--color", "always"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\x1b[32m"), "no colour: {}", r.stdout);
    let plain = without_colour(&r.stdout);
    assert!(!plain.contains('\x1b'), "a raw ESC: {plain:?}");
    for raw in ['\0', '\x07', '\r', '\u{202e}'] {
        assert!(!plain.contains(raw), "{raw:?} in {plain:?}");
    }
    assert!(
        plain.contains(r#"+ create "eve\x1b]0;pwned\x07\x1b[2J""#),
        "{plain}"
    );
    assert!(
        plain.contains(r#"+ create "mallory\n  ⊘ block ceo""#),
        "{plain}"
    );
    // The changed characters of an update are coloured around escaped text too.
    assert!(!plain
        .lines()
        .any(|l| l.trim_start().starts_with("⊘ block ceo")));
}

#[test]
fn json_plan_keeps_the_values_exact_and_no_raw_control_character() {
    let dir = hostile_case();
    let r = roster(dir.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for raw in ['\x1b', '\0', '\x07', '\r', '\u{202e}'] {
        assert!(!r.stdout.contains(raw), "{raw:?} in the JSON plan");
    }
    // Pretty JSON has newlines between tokens only: every line starts with one.
    for l in r.stdout.lines() {
        let t = l.trim_start();
        assert!(
            t.is_empty()
                || t.starts_with(['"', '{', '}', '[', ']', '-', 't', 'f', 'n'])
                || t.starts_with(|c: char| c.is_ascii_digit()),
            "a line inside a string: {l:?}"
        );
    }
    let plan: roster::plan::Plan = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = plan.changes.iter().map(|c| c.username.as_str()).collect();
    for exact in [
        "mallory\n  ⊘ block ceo",
        "eve\x1b]0;pwned\x07\x1b[2J",
        "ceo\r\n  + create root\x1b[8m",
    ] {
        assert!(names.contains(&exact), "{exact:?} not in {names:?}");
    }
    let eve = plan
        .changes
        .iter()
        .find(|c| c.username.starts_with("eve"))
        .unwrap();
    let given = eve.fields.iter().find(|f| f.name == "first_name").unwrap();
    assert_eq!(given.after.as_deref(), Some("Eve\u{202e}gnp.exe"));
}
