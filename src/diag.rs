//! Diagnostics that point into a file: one type for every "this file, this line, this is wrong"
//! error (config, LDIF, SCIM JSON), rendered by miette with a snippet, a label and a help line.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use miette::{
    Diagnostic, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};

/// A source file held for diagnostics.
#[derive(Clone)]
pub struct Source {
    pub name: String,
    pub text: Arc<String>,
    /// Its secrets' places are known and masked ([`Source::masked`], the config): lines are not
    /// also hidden for their key's name (the config shows `password: userPassword`, a mapping).
    pub secrets_masked: bool,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Source {
    pub fn new(path: &Path, text: String) -> Source {
        Source {
            name: path.display().to_string(),
            text: Arc::new(text),
            secrets_masked: false,
        }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (
            before.matches('\n').count() + 1,
            before[line_start..].chars().count() + 1,
        )
    }

    /// Byte offset of a 1-based line and column (column counted in characters).
    pub fn offset(&self, line: usize, column: usize) -> usize {
        let mut off = 0;
        for (i, l) in self.text.split_inclusive('\n').enumerate() {
            if i + 1 == line {
                let col: usize = l
                    .chars()
                    .take(column.saturating_sub(1))
                    .map(char::len_utf8)
                    .sum();
                return off + col;
            }
            off += l.len();
        }
        self.text.len()
    }

    /// The same source with these byte ranges overwritten by `*` (one per byte, so every
    /// offset, line and column stays where it was): for literal secrets, before a snippet.
    pub fn masked(&self, ranges: &[Range<usize>]) -> Source {
        if ranges.is_empty() {
            return Source {
                secrets_masked: true,
                ..self.clone()
            };
        }
        let mut bytes = self.text.as_bytes().to_vec();
        for r in ranges {
            let end = r.end.min(bytes.len());
            for b in bytes.get_mut(r.start.min(end)..end).into_iter().flatten() {
                *b = b'*';
            }
        }
        // Whole characters were replaced, byte for byte, by ASCII; a cut through a character
        // would leave invalid UTF-8, shown lossily rather than panicking.
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Source {
            name: self.name.clone(),
            text: Arc::new(text),
            secrets_masked: true,
        }
    }
}

/// The most characters of a line a snippet shows in full; a longer line is cut around the
/// place (minified JSON, a binary file, a file that is not what the config says it is).
const SNIPPET_LINE: usize = 160;
/// Characters kept either side of the place when a long line is cut.
const SNIPPET_CUT: usize = 60;
/// Lines a label may cover in a snippet.
const SNIPPET_LINES: usize = 12;

/// Does this line look like environment data (`NAME=value`, as in `/proc/*/environ` or a
/// `.env` file)? Such a line is never shown: it is where secrets live.
pub fn looks_like_env(line: &str) -> bool {
    let line = line.trim_start_matches("export ");
    match line.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Does this line look like a secret on its own: one word of 12 or more characters that could
/// be a token, a password or a key (`s3cr3t-t0ken`, base64)? The content of a secret's file
/// given where a snapshot was expected. Never shown.
pub fn looks_like_token(line: &str) -> bool {
    // Alone, or as a lone JSON or YAML string.
    let t = line.trim().trim_end_matches(',').trim_matches(['"', '\'']);
    t.chars().count() >= 12
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+/=~!@$%^&*?".contains(c))
}

/// Does a key name a secret? Config secret keys (`password`, `client_secret`, `api-key`…),
/// words that mark credentials elsewhere (`auth`, `private_key`, `session`), and the LDAP
/// password attributes (`userPassword`, `unicodePwd`, `sambaNTPassword`…).
pub fn is_secret_name(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    crate::config::secret::is_secret_key(key)
        || crate::config::load::is_password_attribute(key)
        || ["pwd", "auth", "private", "session", "credential"]
            .iter()
            .any(|w| k.contains(w))
}

/// Is a value, as written after its key, a literal (not a `{ env: … }` / `{ file: … }`
/// reference, not the opening of a nested mapping or list, not empty)? A password hash's
/// scheme tag (`{SSHA}…`, `{CRYPT}…`) opens a literal.
fn is_literal(value: &str) -> bool {
    let v = value.trim();
    if let Some(inner) = v.strip_prefix('{') {
        let tag = inner.split('}').next().unwrap_or_default();
        return inner.contains('}')
            && !tag.is_empty()
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    }
    !v.is_empty() && !v.starts_with('[')
}

/// Does a line give a secret-named key a literal value: YAML or LDIF `key: value` /
/// `key:: base64`, `.env` or properties `key=value`, or JSON `"key": value` anywhere on the line
/// (minified JSON is one line)? Such a line is never shown.
pub fn holds_secret(line: &str) -> bool {
    // JSON (and quoted YAML keys): every `"key": value` on the line.
    let mut rest = line;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else { break };
        let key = &after[..end];
        let tail = after[end + 1..].trim_start();
        if let Some(value) = tail.strip_prefix(':') {
            if is_secret_name(key) && is_literal(value) {
                return true;
            }
        }
        rest = &after[end + 1..];
    }
    // YAML, LDIF, `.env`: a key at the start of the line (after indentation and a list dash).
    let t = line.trim_start();
    let t = t.strip_prefix("- ").unwrap_or(t).trim_start();
    let t = t.strip_prefix("export ").unwrap_or(t);
    let n = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || "_-.;".contains(c)))
        .unwrap_or(t.len());
    let (key, after) = t.split_at(n);
    let after = after.trim_start();
    let value = if let Some(v) = after.strip_prefix("::") {
        v
    } else if let Some(v) = after.strip_prefix(':') {
        v
    } else if let Some(v) = after.strip_prefix('=') {
        v
    } else {
        // No separator (`userPassword hunter2`, a broken line): a secret name followed by
        // anything is still a secret.
        return !key.is_empty() && !after.is_empty() && is_secret_name(key);
    };
    !key.is_empty() && is_secret_name(key) && is_literal(value)
}

/// Why a line of a file must not be shown, if it must not.
fn hidden(line: &str, masked: bool) -> Option<&'static str> {
    if looks_like_env(line) {
        Some("it looks like environment data")
    } else if !masked && holds_secret(line) {
        Some("it holds a secret")
    } else if looks_like_token(line) {
        Some("it looks like a secret")
    } else if line
        .trim_end_matches('\r')
        .chars()
        .any(|c| c != '\t' && crate::text::is_hostile(c))
    {
        // A snippet prints the line as it is: an escape sequence would reach the terminal.
        Some("it holds control characters")
    } else {
        None
    }
}

/// A short, safe excerpt of file text for a message: at most 40 characters, and nothing of
/// what looks like environment data (`NAME=…`) or a secret (`***`).
pub fn excerpt(s: &str) -> String {
    if looks_like_env(s) {
        // `DB_PASSWORD=…` says what the line is; a name in lower case may be base64 instead.
        let name = s
            .trim_start_matches("export ")
            .split('=')
            .next()
            .unwrap_or_default();
        if name.chars().any(|c| c.is_ascii_lowercase()) {
            return "***".into();
        }
        return format!("{}=…", clip(name));
    }
    if looks_like_token(s) || holds_secret(s) {
        return "***".into();
    }
    clip(s)
}

/// A JSON parser's message without the values it quotes (`invalid type: string "…"` names
/// the text it found, which may be anything, a secret included) and without its own `at line
/// N column M`, which the snippet shows.
pub fn json_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg
        .rsplit_once(" at line ")
        .map_or(msg.as_str(), |(m, _)| m);
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("string \"") {
        out.push_str(&rest[..i]);
        out.push_str("a string");
        let after = &rest[i + "string \"".len()..];
        // serde_json writes the string with its escapes: the value ends at an unescaped quote.
        let mut end = after.len();
        let mut escaped = false;
        for (j, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = j + 1;
                    break;
                }
                _ => escaped = false,
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// What is wrong with a JSON document that does not fit its type, in the user's terms and by
/// the key's path: "`allowances.allow_blocks` must be a whole number", "`allowances` has no key
/// `allow_blockz` (it takes `allow_blocks`, …)", "the plan lacks `changes`". `whole` names the
/// document ("the plan"). Other errors (syntax) are [`json_message`].
pub fn json_problem(src: &Source, e: &serde_json::Error, whole: &str) -> String {
    let msg = json_message(e);
    if !e.is_data() {
        return msg;
    }
    let mut path = json_path_at(&src.text, src.offset(e.line(), e.column()));
    let named = |path: &[String]| match path {
        [] => whole.to_owned(),
        p => format!("`{}`", p.join(".").replace(".[", "[")),
    };
    let after = |s: &str, p: &str| s.split_once(p).map(|(_, r)| r.to_owned());
    let takes = |rest: &str| match rest.split_once(", expected ") {
        Some((_, "there are no fields")) => " (it takes no keys)".to_owned(),
        Some((_, e)) => format!(" (it takes {})", e.trim_start_matches("one of ")),
        None => String::new(),
    };
    if let Some(rest) = after(&msg, "unknown field ") {
        path.pop();
        let key = rest.split(", expected").next().unwrap_or_default();
        let key = crate::text::escape(key);
        return format!("{} has no key {key}{}", named(&path), takes(&rest));
    }
    if let Some(rest) = after(&msg, "missing field ") {
        path.pop();
        return format!("{} lacks {rest}", named(&path));
    }
    if let Some(rest) = after(&msg, "unknown variant ") {
        let allowed = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return format!(
            "{} must be {}",
            named(&path),
            allowed.trim_start_matches("one of ")
        );
    }
    if let Some(expected) = after(&msg, ", expected ") {
        let kind = match expected.as_str() {
            "usize" | "u8" | "u16" | "u32" | "u64" => "a whole number (0 or more)",
            "i32" | "i64" | "isize" => "a whole number",
            "a string" | "a borrowed string" => "text (a JSON string)",
            "a boolean" => "true or false",
            "a sequence" => "a list",
            e if e.starts_with("struct ") || e == "a map" => "an object",
            e => e,
        };
        return format!("{} must be {kind}", named(&path));
    }
    msg
}

/// The keys and indexes leading to a byte offset of a JSON text (`["changes", "[3]",
/// "action"]`): the innermost key at the offset last. Keys are escaped for a message.
fn json_path_at(text: &str, offset: usize) -> Vec<String> {
    enum Frame {
        Object(Option<String>, bool),
        Array(usize),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if i >= offset {
            break;
        }
        match c {
            '{' => stack.push(Frame::Object(None, true)),
            '[' => stack.push(Frame::Array(0)),
            '}' | ']' => {
                stack.pop();
            }
            ',' => match stack.last_mut() {
                Some(Frame::Array(n)) => *n += 1,
                Some(Frame::Object(_, expecting_key)) => *expecting_key = true,
                None => {}
            },
            '"' => {
                let mut s = String::new();
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        c => {
                            escaped = false;
                            s.push(c);
                        }
                    }
                }
                if let Some(Frame::Object(key, expecting_key @ true)) = stack.last_mut() {
                    *key = Some(s);
                    *expecting_key = false;
                }
            }
            _ => {}
        }
    }
    stack
        .iter()
        .filter_map(|f| match f {
            Frame::Object(key, _) => key.as_deref().map(|k| crate::text::escape(k).into_owned()),
            Frame::Array(n) => Some(format!("[{n}]")),
        })
        .collect()
}

/// An attribute or key name for a message: shown when it is one (letters, digits, `-`, `_`,
/// `.`, `;`, at most 40), else as an excerpt (it may be a line of something else entirely).
pub fn name_excerpt(s: &str) -> String {
    let is_name = !s.is_empty()
        && s.chars().count() <= 40
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.;".contains(c));
    if is_name {
        s.to_owned()
    } else {
        excerpt(s)
    }
}

/// Escaped ([`crate::text::escape`]: no control, bidi or line-break character reaches the
/// terminal) and cut at 40 characters.
fn clip(s: &str) -> String {
    let s = crate::text::escape(s);
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.into_owned()
    }
}

/// What a snippet may show of a source around a span: whole lines that are short and not
/// environment data, or a cut of one long line; `None` when the place's own line must not be
/// shown. The range is contiguous in the source, so offsets, lines and columns stay true.
fn window(text: &str, span: SourceSpan, masked: bool) -> Option<Range<usize>> {
    let start = floor_char(text, span.offset().min(text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |i| from + i);
    let first = &text[line_start..line_end(line_start)];
    let safe = |l: &str| l.chars().count() <= SNIPPET_LINE && hidden(l, masked).is_none();
    if hidden(first, masked).is_some() {
        return None;
    }
    if !safe(first) {
        // One long line: the place and a little either side, no context.
        let lo = text[line_start..start]
            .char_indices()
            .rev()
            .nth(SNIPPET_CUT.saturating_sub(1))
            .map_or(line_start, |(i, _)| line_start + i);
        let end = line_end(line_start);
        let hi = text[start..end]
            .char_indices()
            .nth(SNIPPET_CUT)
            .map_or(end, |(i, _)| start + i);
        return Some(lo..hi);
    }
    // The span's lines while they are safe, then one line of context either side if safe.
    let span_end = (span.offset() + span.len()).min(text.len());
    let mut hi = line_end(line_start);
    let mut lines = 1;
    while hi < span_end && lines < SNIPPET_LINES {
        let next = line_end(hi + 1);
        if !safe(&text[hi + 1..next]) {
            break;
        }
        hi = next;
        lines += 1;
    }
    if hi < text.len() {
        let next = line_end(hi + 1);
        if safe(&text[hi + 1..next]) {
            hi = next;
        }
    }
    let mut lo = line_start;
    if line_start > 0 {
        let prev = text[..line_start - 1].rfind('\n').map_or(0, |i| i + 1);
        if safe(&text[prev..line_start - 1]) {
            lo = prev;
        }
    }
    Some(lo..hi)
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A source as diagnostics show it: only the window around the problem.
#[derive(Debug, Clone)]
struct Shown {
    name: String,
    text: Arc<String>,
    masked: bool,
    window: Option<Range<usize>>,
}

impl SourceCode for Shown {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let w = self.window.clone().ok_or(MietteError::OutOfBounds)?;
        let shown = &self.text[w.clone()];
        let start = span.offset().saturating_sub(w.start).min(shown.len());
        let len = span.len().min(shown.len() - start);
        let c = shown.read_span(&(start, len).into(), before, after)?;
        let line_start = self.text[..w.start].rfind('\n').map_or(0, |i| i + 1);
        let base_line = self.text[..w.start].matches('\n').count();
        let column = match c.line() {
            0 => w.start - line_start + c.column(),
            _ => c.column(),
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            c.data(),
            (c.span().offset() + w.start, c.span().len()).into(),
            base_line + c.line(),
            column,
            c.line_count(),
        )))
    }
}

/// One problem at one place in a file, possibly with more problems in the same file attached.
#[derive(Debug)]
pub struct SourceError {
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    pub span: SourceSpan,
    src: Shown,
    pub related: Vec<SourceError>,
    /// More places in the same file the problem involves, each with its label.
    also: Vec<(SourceSpan, String)>,
}

impl SourceError {
    pub fn new(
        code: &'static str,
        src: &Source,
        span: impl Into<SourceSpan>,
        message: impl Into<String>,
    ) -> SourceError {
        let span = span.into();
        let window = window(&src.text, span, src.secrets_masked);
        let mut message = message.into();
        if window.is_none() {
            let (line, column) = src.line_column(span.offset());
            let why = src
                .text
                .lines()
                .nth(line - 1)
                .and_then(|l| hidden(l, src.secrets_masked))
                .unwrap_or("");
            message.push_str(&format!(
                " (at {}:{line}:{column}; the line is not shown: {why})",
                crate::text::shown(&src.name)
            ));
        }
        // The label stays within what is shown.
        let span = match &window {
            Some(w) => {
                let start = span.offset().clamp(w.start, w.end);
                (
                    start,
                    (span.offset() + span.len())
                        .min(w.end)
                        .saturating_sub(start),
                )
                    .into()
            }
            None => span,
        };
        SourceError {
            code,
            message,
            label: String::new(),
            help: None,
            span,
            src: Shown {
                name: src.name.clone(),
                text: src.text.clone(),
                masked: src.secrets_masked,
                window,
            },
            related: Vec::new(),
            also: Vec::new(),
        }
    }

    /// At a 1-based line and column, one character wide.
    pub fn at(
        code: &'static str,
        src: &Source,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> SourceError {
        let off = src.offset(line, column);
        let len = src.text[off..].chars().next().map_or(0, char::len_utf8);
        SourceError::new(code, src, (off, len), message)
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Point at one more place in the same file (a problem between two keys shows both).
    /// The snippet grows to show both places when every line between them may be shown; else the
    /// other place is named by line and column in the message.
    pub fn also(mut self, span: impl Into<SourceSpan>, label: impl Into<String>) -> Self {
        let span = span.into();
        let label = label.into();
        let text = &self.src.text;
        let masked = self.src.masked;
        let union = match (&self.src.window, window(text, span, masked)) {
            (Some(a), Some(b)) => {
                let u = a.start.min(b.start)..a.end.max(b.end);
                let safe = text[u.clone()]
                    .lines()
                    .all(|l| l.chars().count() <= SNIPPET_LINE && hidden(l, masked).is_none());
                safe.then_some(u)
            }
            _ => None,
        };
        match union {
            Some(u) => {
                self.src.window = Some(u);
                self.also.push((span, label));
            }
            None => {
                let line = text[..span.offset().min(text.len())].matches('\n').count() + 1;
                self.message
                    .push_str(&format!(" (and at line {line}: {label})"));
            }
        }
        self
    }

    /// Several problems in one file: the first leads, the rest are related, all reported at once.
    pub fn many(mut errors: Vec<SourceError>) -> Option<SourceError> {
        if errors.is_empty() {
            return None;
        }
        if errors.len() == 1 {
            return errors.pop();
        }
        let message = format!("{} problems in {}", errors.len(), errors[0].src.name);
        let src = errors[0].src.clone();
        Some(SourceError {
            code: "roster::problems",
            message,
            label: String::new(),
            help: None,
            span: (0, 0).into(),
            src,
            related: errors,
            also: Vec::new(),
        })
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SourceError {}

impl Diagnostic for SourceError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        if self.related.is_empty() && self.src.window.is_some() {
            Some(&self.src)
        } else {
            None
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if !self.related.is_empty() || self.src.window.is_none() {
            return None;
        }
        let label = (!self.label.is_empty()).then(|| self.label.clone());
        let also = self
            .also
            .iter()
            .map(|(span, label)| LabeledSpan::new_with_span(Some(label.clone()), *span));
        Some(Box::new(
            std::iter::once(LabeledSpan::new_with_span(label, self.span)).chain(also),
        ))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|e| e as &dyn Diagnostic)))
    }
}

/// Whether printed diagnostics are in colour: the SGR sequences miette writes then are kept.
static COLOUR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Say once, before any diagnostic is printed, whether miette was set to write colour.
pub fn set_colour(on: bool) {
    let _ = COLOUR.set(on);
}

/// Set miette's handler for the run: honour COLUMNS (terminals and CI logs), never split a word
/// such as a flag, and colour only on a terminal and not with NO_COLOR (printed diagnostics keep
/// only the colour sequences miette writes then: [`print()`]).
pub fn install_hook() {
    use std::io::IsTerminal;
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    set_colour(colour);
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(colour)
                .terminal_links(false)
                .width(width)
                .break_words(false)
                .build(),
        )
    }));
}

/// A diagnostic as it reaches a terminal: rendered by miette, then made [`terminal_safe`]. Every
/// value from a file is escaped where the message is made; this is the net under all of them.
pub fn rendered(report: &miette::Report) -> String {
    terminal_safe(
        &format!("{report:?}"),
        COLOUR.get().copied().unwrap_or(false),
    )
}

/// Print a diagnostic on stderr ([`rendered`]); a closed stderr loses it, never the run.
pub fn print(report: &miette::Report) {
    crate::say!("{}", rendered(report));
}

/// Text with every hostile character ([`crate::text::is_hostile`]) as a visible escape, except
/// line breaks and, when `colour`, SGR colour sequences (`ESC [ digits;… m`): OSC (a title, a
/// link), other CSI (clear the screen, move the cursor), CR, NUL and bidi controls are shown.
pub fn terminal_safe(s: &str, colour: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if colour && c == '\x1b' {
            if let Some(n) = sgr_len(rest) {
                out.push_str(&rest[..n]);
                rest = &rest[n..];
                continue;
            }
        }
        let n = c.len_utf8();
        if c == '\n' {
            out.push(c);
        } else {
            out.push_str(&crate::text::escape(&rest[..n]));
        }
        rest = &rest[n..];
    }
    out
}

/// The length of the SGR sequence `s` starts with (`ESC [ 1;31 m`), if it starts with one.
fn sgr_len(s: &str) -> Option<usize> {
    let params = s.strip_prefix("\x1b[")?;
    let n = params
        .find(|c: char| !(c.is_ascii_digit() || c == ';'))
        .unwrap_or(params.len());
    params[n..].starts_with('m').then_some(2 + n + 1)
}

/// A file that could not be read at all: "cannot read PATH: why", once (the OS's reason is in the
/// message, so it is not also the error's cause, which miette would print again).
#[derive(Debug, Diagnostic)]
#[diagnostic(
    code(roster::io),
    help("check the path; relative paths in the config resolve from the config's folder")
)]
pub struct ReadError {
    pub path: String,
    pub source: std::io::Error,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read {}: {}",
            crate::text::shown(&self.path),
            crate::text::escape(&self.source.to_string())
        )
    }
}

impl std::error::Error for ReadError {}

/// Refuse what is not a regular file: a directory, a device, a pipe, a socket, or a kernel
/// pseudo-file under `/proc`, `/sys` or `/dev` (which claims to be a regular file). Their
/// contents are not a config, snapshot or plan, may never end (a pipe, `/dev/zero`), and may
/// hold secrets (`/proc/self/environ`) that a diagnostic would show.
pub fn check_regular(path: &Path) -> Result<(), ReadError> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // reading it says why
    };
    let kernel = std::fs::canonicalize(path).is_ok_and(|p| {
        ["/proc", "/sys", "/dev"]
            .iter()
            .any(|root| p.starts_with(root))
    });
    if meta.is_file() && !kernel {
        return Ok(());
    }
    let what = if meta.is_dir() {
        "it is a folder"
    } else if kernel {
        "it is a device or kernel file"
    } else {
        "it is a device, pipe or socket"
    };
    Err(ReadError {
        path: path.display().to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a regular file: {what}"),
        ),
    })
}

/// A file that could not be read as text: unreadable, or not UTF-8.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum SourceReadError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    NotUtf8(#[from] SourceError),
}

/// Read a file as UTF-8 text. Bytes that are not UTF-8 are an error at the first of them (file,
/// line, column), never replaced with U+FFFD: a config or an LDIF file is text, and a binary LDIF
/// value is written base64-encoded (`attr:: …`).
pub fn read_source(path: &Path) -> Result<Source, SourceReadError> {
    check_regular(path)?;
    let bytes = std::fs::read(path).map_err(|source| ReadError {
        path: path.display().to_string(),
        source,
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(path, text)),
        Err(e) => Err(not_utf8(path, e.as_bytes(), e.utf8_error()).into()),
    }
}

/// Where the first invalid byte is, pointed at in the file as shown (invalid bytes as U+FFFD).
fn not_utf8(path: &Path, bytes: &[u8], e: std::str::Utf8Error) -> SourceError {
    let at = e.valid_up_to();
    // The bytes before `at` are valid UTF-8, so this is the same text, unchanged.
    let before = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let bad = e.error_len().unwrap_or(bytes.len() - at);
    let hex: Vec<String> = bytes[at..at + bad]
        .iter()
        .map(|b| format!("0x{b:02X}"))
        .collect();
    let src = Source::new(path, String::from_utf8_lossy(bytes).into_owned());
    let width = src.text[at..].chars().next().map_or(0, char::len_utf8);
    SourceError::new(
        "roster::not_utf8",
        &src,
        (at, width),
        format!(
            "{} is not valid UTF-8: byte{} {} at line {line}, column {column}",
            path.display(),
            if bad == 1 { "" } else { "s" },
            hex.join(" ")
        ),
    )
    .label("not UTF-8")
    .help(
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ldif")) {
            "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`); a binary value is written base64-encoded, as `attribute:: …`"
        } else {
            "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(e: &SourceError) -> String {
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .render_report(&mut out, e)
            .unwrap();
        out
    }

    fn source(text: &str) -> Source {
        Source::new(Path::new("f.txt"), text.to_owned())
    }

    #[test]
    fn a_long_line_is_cut_around_the_place() {
        let text = format!(
            "first\n[{}HERE{}]\nlast\n",
            "a, ".repeat(2000),
            " b,".repeat(2000)
        );
        let src = source(&text);
        let at = text.find("HERE").unwrap();
        let out = render(&SourceError::new("x", &src, (at, 4), "bad").label("here"));
        assert!(out.contains("[f.txt:2:6002]"), "{out}");
        assert!(out.contains("a, a, HERE b, b,"), "{out}");
        assert!(out.len() < 1000, "{} bytes: {out}", out.len());
        assert!(
            !out.contains("first"),
            "no context around a cut line: {out}"
        );
    }

    #[test]
    fn environment_data_is_never_shown() {
        let src = source("line: one\nAPI_TOKEN=s3cret\nline: three\nbad\n");
        let out = render(&SourceError::at("x", &src, 2, 1, "bad"));
        assert!(!out.contains("s3cret"), "{out}");
        assert!(out.contains("at f.txt:2:1"), "{out}");
        // Nor as the context of another line.
        let out = render(&SourceError::at("x", &src, 3, 1, "bad"));
        assert!(
            !out.contains("s3cret") && out.contains("line: three"),
            "{out}"
        );
        assert!(out.contains("[f.txt:3:1]"), "{out}");
    }

    #[test]
    fn a_line_that_looks_like_a_token_is_never_shown() {
        let src = source("dGhpcyBpcyBhIHNlY3JldCB0b2tlbg==\n");
        let out = render(&SourceError::at("x", &src, 1, 1, "not JSON"));
        assert!(!out.contains("dGhp"), "{out}");
        assert!(
            out.contains("at f.txt:1:1; the line is not shown: it looks like"),
            "{out}"
        );
        // Ordinary lines of a config, LDIF or JSON are shown.
        for line in [
            "  - cn=staff,dc=example,dc=com",
            "dn: uid=a,dc=x",
            "{\"users\": 1}",
            "version",
        ] {
            let out = render(&SourceError::at("x", &source(line), 1, 1, "bad"));
            assert!(out.contains(line), "{out}");
        }
    }

    #[test]
    fn json_messages_name_no_value() {
        let e = serde_json::from_str::<u32>("\"s3cr\\\"et\"").unwrap_err();
        assert_eq!(json_message(&e), "invalid type: a string, expected u32");
        let e = serde_json::from_str::<Vec<u32>>("[").unwrap_err();
        assert_eq!(json_message(&e), "EOF while parsing a list");
    }

    #[test]
    fn a_line_that_gives_a_secret_key_a_value_is_never_shown() {
        for line in [
            "password: pa55-w0rd-VALUE",
            "userPassword: {SSHA}abc",
            "userPassword:: e1NTSEF9YWJj",
            "unicodePwd:: IgBhAGIAYwAiAA==",
            "sambaNTPassword: 0123456789ABCDEF",
            "pwdHistory: 20240101000000Z#1.3.6.1.4.1.1466.115.121.1.40#20#{SSHA}x",
            "  - token: \"x\"",
            "db.password=hunter2",
            "api-key = abc",
            r#"{"client_secret": "s3cr3t-VALUE-xyz", "client_id": "a"}"#,
            r#"  "private_key_id": "0123abcd","#,
            r#"  "private_key": "-----BEGIN PRIVATE KEY-----\nMII","#,
            r#"{"auths":{"r.example.com":{"auth":"dXNlcjpwYXNzd29yZA=="}}}"#,
            r#"    {"userName": "a", "password": "pa55-w0rd-VALUE""#,
            r#"  "Session\"Id": 1, "sessionId": 12"#,
        ] {
            assert!(holds_secret(line), "{line}");
            assert_eq!(hidden(line, false), Some("it holds a secret"), "{line}");
            assert_eq!(excerpt(line), "***", "{line}");
        }
        for line in [
            "  token: { env: ROSTER_SCIM_TOKEN }",
            "  password: { file: ldap.pw }",
            "password:",
            r#"  "auths": {"#,
            r#"  "credentials": ["#,
            "dn: uid=a,dc=x",
            r#"{"userName": "password", "displayName": "token"}"#,
            "display_name: \"{givenName} {sn}\"",
        ] {
            assert!(!holds_secret(line), "{line}");
        }
        let src = source("dn: uid=a,dc=x\nuserPassword: {SSHA}abcVALUE\nbad line\n");
        let out = render(&SourceError::at("x", &src, 3, 1, "bad"));
        assert!(!out.contains("VALUE") && out.contains("bad line"), "{out}");
        let out = render(&SourceError::at("x", &src, 2, 1, "bad"));
        assert!(
            !out.contains("VALUE")
                && out.contains("f.txt:2:1; the line is not shown: it holds a secret"),
            "{out}"
        );
    }

    #[test]
    fn json_problems_name_the_key_in_user_terms() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            allow_blocks: Option<usize>,
            flag: Option<bool>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            version: u32,
            #[serde(default)]
            list: Vec<Inner>,
            allowances: Option<Inner>,
        }
        let problem = |text: &str| {
            let src = source(text);
            let e = serde_json::from_str::<Doc>(text).unwrap_err();
            json_problem(&src, &e, "the plan")
        };
        assert_eq!(
            problem(r#"{"version": 1, "allowances": {"allow_blocks": "x"}}"#),
            "`allowances.allow_blocks` must be a whole number (0 or more)"
        );
        assert_eq!(
            problem("{\n  \"version\": 1,\n  \"allowances\": {\n    \"allow_blocks\": -1\n  }\n}"),
            "`allowances.allow_blocks` must be a whole number (0 or more)"
        );
        assert_eq!(
            problem(r#"{"version": 1, "allowances": {"allow_blockz": 1}}"#),
            "`allowances` has no key `allow_blockz` (it takes `allow_blocks` or `flag`)"
        );
        assert_eq!(
            problem(r#"{"version": 1, "list": [{}, {"flag": 3}]}"#),
            "`list[1].flag` must be true or false"
        );
        assert_eq!(problem(r#"{"list": []}"#), "the plan lacks `version`");
        assert_eq!(
            problem(r#"{"version": 1, "x\u001b[2J": 1}"#),
            "the plan has no key `x\\x1b[2J` (it takes `version`, `list`, `allowances`)"
        );
        assert_eq!(problem(r#"{"version": "#), "EOF while parsing a value");
    }

    #[test]
    fn printed_diagnostics_are_terminal_safe() {
        let raw = "\x1b[31m× bad\x1b[0m `a\x1b]0;pwned\x07\x1b[2J\r\0\u{202e}`\n  next";
        assert_eq!(
            terminal_safe(raw, true),
            "\x1b[31m× bad\x1b[0m `a\\x1b]0;pwned\\x07\\x1b[2J\\r\\0\\u{202e}`\n  next"
        );
        assert_eq!(
            terminal_safe(raw, false),
            "\\x1b[31m× bad\\x1b[0m `a\\x1b]0;pwned\\x07\\x1b[2J\\r\\0\\u{202e}`\n  next"
        );
        assert_eq!(terminal_safe("\x1b[", true), "\\x1b[");
    }

    #[test]
    fn masked_text_keeps_its_positions() {
        let src = source("token: hunter2 # é\nnext: 1\n");
        let masked = src.masked(&[7..14, 14..14]);
        assert_eq!(*masked.text, "token: ******* # é\nnext: 1\n");
        let out = render(&SourceError::at("x", &masked, 2, 1, "bad"));
        assert!(
            out.contains("[f.txt:2:1]") && !out.contains("hunter2"),
            "{out}"
        );
    }

    #[test]
    fn excerpts_are_short_and_hide_environment_values() {
        assert_eq!(excerpt("DB_PASSWORD=x"), "DB_PASSWORD=…");
        assert_eq!(
            excerpt(&"ab ".repeat(30)),
            format!("{}a…", "ab ".repeat(13))
        );
        assert_eq!(excerpt("export API_KEY=x"), "API_KEY=…");
        assert_eq!(excerpt("s3cr3t-t0ken-value"), "***");
        assert_eq!(excerpt("dGhpcyBpcyBhIHNlY3JldA="), "***");
        assert_eq!(excerpt("cn: a\u{0}b"), "cn: a\\0b", "escaped, not dropped");
        assert_eq!(
            name_excerpt("telephoneNumber;lang-en"),
            "telephoneNumber;lang-en"
        );
        assert_eq!(name_excerpt("NO_COLOR=1\u{0}SECRET=x"), "NO_COLOR=…");
    }
}
