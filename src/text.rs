//! Text that came from outside (a directory, an intranet, a file): how it is shown to people and
//! how usernames are compared. One place, used by every renderer, the audit report and the
//! diagnostics, so a value can never reach a terminal, a pull-request comment or a spreadsheet raw.
//!
//! The escaping rule (README, "Hostile text"):
//! - Control characters are shown as visible escapes: C0 (`\0`, `\t`, `\n`, `\r`, else `\x1b`
//!   style), DEL (`\x7f`), C1 (`\u{85}` style), the line and paragraph separators U+2028/2029,
//!   and the bidirectional controls (U+061C, U+200E/200F, U+202A–202E, U+2066–2069: "Trojan
//!   Source"). An ANSI or OSC sequence therefore never reaches a terminal: its ESC is `\x1b`.
//! - [`escape`] does only that, for Roster's own messages that carry values already shown.
//! - [`shown`] is a value inline (a username, a DN): as it is when plain, else quoted with `\\`
//!   and `\"` escaped too, so `"a\nb"` (a newline) and `a\nb` (a backslash) read differently.
//! - [`quoted`] is a field value: always quoted, escaped the same way.
//! - [`markdown`] and [`code`] add Markdown's and HTML's metacharacters; [`prose`] is Roster's
//!   own words, with their `` `…` `` parts as code spans.

use std::borrow::Cow;
use std::fmt::Write;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Is `c` a character that must never be shown raw?
pub fn is_hostile(c: char) -> bool {
    matches!(c,
        '\0'..='\x1f' | '\x7f'..='\u{9f}'
        | '\u{061c}' | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The visible escape of a hostile character.
fn push_escape(out: &mut String, c: char) {
    match c {
        '\0' => out.push_str("\\0"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\0'..='\x7f' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Hostile characters replaced by visible escapes; everything else as it is. Borrowed when
/// there is nothing to escape (nearly always).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hostile(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The inside of a quoted value: `\`, `"` and hostile characters escaped.
pub fn quoted_inner(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_hostile(c) || c == '"' || c == '\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_hostile(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A value in quotes: `"Rear Admiral"`, `"mallory\n  ⊘ block ceo"`.
pub fn quoted(s: &str) -> String {
    format!("\"{}\"", quoted_inner(s))
}

/// A value inline (a username, a DN, a group name): as it is when it is plain, quoted when it
/// holds a hostile character, is empty or starts or ends with white space.
pub fn shown(s: &str) -> Cow<'_, str> {
    let plain = !s.is_empty()
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s.chars().any(is_hostile);
    if plain {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(quoted(s))
    }
}

/// Text for Markdown (a table cell, a list item, a quote): hostile characters escaped as in
/// [`escape`], and every character that could open a link, an image, emphasis, a code span, a
/// table cell or HTML escaped, so the text renders as exactly itself.
pub fn markdown(s: &str) -> Cow<'_, str> {
    const META: &[char] = &['\\', '`', '*', '_', '[', ']', '|', '~', '<', '>', '&'];
    if !s.chars().any(|c| is_hostile(c) || META.contains(&c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut prev = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let within_word = |p: Option<char>| p.is_some_and(char::is_alphanumeric);
        match c {
            // Between two letters or digits `_` can neither open nor close emphasis (`job_title`).
            '_' if within_word(prev) && within_word(next) => out.push('_'),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if META.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            c if is_hostile(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
        prev = Some(c);
    }
    Cow::Owned(out)
}

/// Roster's own words for Markdown, where `` `…` `` marks a name or a value: those parts become
/// code spans ([`code`]), the rest is escaped as [`markdown`]. Text with an unpaired backtick (a
/// value that carried one) is escaped whole: it then shows its backticks rather than misplace a
/// span. Either way nothing in `s` can open HTML, a link or a span of its own.
pub fn prose(s: &str) -> Cow<'_, str> {
    if !s.contains('`') || s.matches('`').count() % 2 == 1 {
        return markdown(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(&markdown(part));
        } else {
            out.push_str(&code(part));
        }
    }
    Cow::Owned(out)
}

/// A value as a Markdown code span, for a table cell: hostile characters escaped, `|` escaped
/// (GitHub tables split cells on it even in code), and a fence longer than any run of backticks
/// in the value, so it cannot close the span early. Nothing else is interpreted inside a span.
pub fn code(s: &str) -> String {
    let inner = escape(s).replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in inner.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if inner.starts_with('`') || inner.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{inner}{pad}{fence}")
}

/// A username as it is compared: NFC, then lowercase. Borrowed for plain lowercase ASCII (nearly
/// every username), so comparing a million usernames allocates nothing.
pub fn username_key(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        };
    }
    let lower = s.chars().all(|c| {
        let mut l = c.to_lowercase();
        l.next() == Some(c) && l.next().is_none()
    });
    if lower && is_nfc_quick(s.chars()) == IsNormalized::Yes {
        return Cow::Borrowed(s);
    }
    // Lowercasing can undo a composition; normalise on both sides of it.
    let l = s.nfc().collect::<String>().to_lowercase();
    Cow::Owned(nfc(&l).into_owned())
}

/// `s` in Unicode Normalization Form C: borrowed when it already is (always for ASCII).
pub fn nfc(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    }
}

/// The scripts a username mixes in a way that lets it pass for another one (Cyrillic "а" beside
/// Latin "lice"), by name; `None` for a username written in one script (after the usual
/// allowances: Latin with Han, Hiragana and Katakana, and so on, as UTS #39 defines them).
pub fn mixed_scripts(s: &str) -> Option<Vec<&'static str>> {
    use unicode_script::{Script, UnicodeScript};
    use unicode_security::MixedScript;
    if s.is_ascii() || s.is_single_script() {
        return None;
    }
    let mut scripts: Vec<&'static str> = s
        .chars()
        .map(|c| c.script())
        .filter(|sc| !matches!(sc, Script::Common | Script::Inherited | Script::Unknown))
        .map(|sc| sc.full_name())
        .collect();
    scripts.sort_unstable();
    scripts.dedup();
    Some(scripts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_makes_code_spans_of_its_backticked_parts_and_escapes_the_rest() {
        assert_eq!(
            prose("maps job_title to `{title} | x` (was `title`) <b>"),
            "maps job_title to `{title} \\| x` (was `title`) &lt;b&gt;"
        );
        // A value that brought its own backtick: escaped whole, never a misplaced span.
        assert_eq!(prose("group `a`b` gone"), "group \\`a\\`b\\` gone");
        // A hostile value inside a span stays visible and inert.
        assert_eq!(prose("`\x1b[2J`"), "`\\x1b[2J`");
        assert_eq!(prose("plain"), "plain");
    }

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(escape("alice"), "alice");
        assert!(matches!(escape("josé"), Cow::Borrowed(_)));
        assert_eq!(escape("mallory\n  ⊘ block ceo"), "mallory\\n  ⊘ block ceo");
        assert_eq!(
            escape("\x1b]0;pwned\x07\x1b[2J"),
            "\\x1b]0;pwned\\x07\\x1b[2J"
        );
        assert_eq!(escape("a\0b\r\x7f"), "a\\0b\\r\\x7f");
        assert_eq!(escape("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        assert_eq!(
            escape("\u{202e}\u{2066}\u{2028}\u{2029}"),
            "\\u{202e}\\u{2066}\\u{2028}\\u{2029}"
        );
        for c in (0..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            assert!(!escape(&c.to_string()).contains(c), "{c:?}");
        }
    }

    #[test]
    fn values_are_quoted_when_they_need_it() {
        assert_eq!(shown("alice"), "alice");
        assert_eq!(shown("a\\nb"), "a\\nb");
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert_eq!(shown("a\\b\n"), "\"a\\\\b\\n\"");
        assert_eq!(shown(""), "\"\"");
        assert_eq!(shown(" x"), "\" x\"");
        assert_eq!(
            quoted("Rear \"Ad\" \x1b[31m"),
            "\"Rear \\\"Ad\\\" \\x1b[31m\""
        );
    }

    #[test]
    fn markdown_cannot_open_anything() {
        let m = markdown("<img src=x> [a](http://x) `c` *b* _i_ | ~~s~~ &amp; \\ \n");
        for raw in ["<", ">", "[a]", "`c`", "*b*", "_i_", " | ", "~~", "\n"] {
            assert!(!m.contains(raw), "{raw} in {m}");
        }
        assert!(m.contains("&lt;img src=x&gt;"), "{m}");
        assert!(m.contains("&amp;amp;"), "{m}");
        assert_eq!(markdown("job_title"), "job_title");
        assert_eq!(markdown("_a_ b_"), "\\_a\\_ b\\_");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("x\ny"), "`x\\ny`");
    }

    #[test]
    fn usernames_compare_in_nfc_without_case() {
        let composed = "jos\u{e9}";
        let decomposed = "jose\u{301}";
        assert_eq!(username_key(composed), username_key(decomposed));
        assert_eq!(username_key("JOSE\u{301}"), composed);
        assert!(matches!(username_key("alice"), Cow::Borrowed(_)));
        assert!(matches!(username_key(composed), Cow::Borrowed(_)));
        assert_eq!(username_key("Alice"), "alice");
        assert_eq!(nfc(decomposed), composed);
    }

    #[test]
    fn mixed_scripts_are_named() {
        assert_eq!(mixed_scripts("alice"), None);
        assert_eq!(mixed_scripts("josé"), None);
        assert_eq!(mixed_scripts("алиса"), None);
        assert_eq!(
            mixed_scripts("\u{430}lice"),
            Some(vec!["Cyrillic", "Latin"])
        );
    }
}
