//! Diagnostics that point into a file: one type for every "this file, this line, this is wrong"
//! error (config, LDIF, SCIM JSON), rendered by miette with a snippet, a label and a help line.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};

/// A source file held for diagnostics.
#[derive(Clone)]
pub struct Source {
    pub name: String,
    pub text: Arc<String>,
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
        }
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

    fn named(&self) -> NamedSource<Arc<String>> {
        NamedSource::new(self.name.clone(), self.text.clone())
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
    src: NamedSource<Arc<String>>,
    pub related: Vec<SourceError>,
}

impl SourceError {
    pub fn new(
        code: &'static str,
        src: &Source,
        span: impl Into<SourceSpan>,
        message: impl Into<String>,
    ) -> SourceError {
        SourceError {
            code,
            message: message.into(),
            label: String::new(),
            help: None,
            span: span.into(),
            src: src.named(),
            related: Vec::new(),
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

    /// Several problems in one file: the first leads, the rest are related, all reported at once.
    pub fn many(mut errors: Vec<SourceError>) -> Option<SourceError> {
        if errors.is_empty() {
            return None;
        }
        if errors.len() == 1 {
            return errors.pop();
        }
        let message = format!("{} problems in {}", errors.len(), errors[0].src.name());
        let src = errors[0].src.clone();
        Some(SourceError {
            code: "roster::problems",
            message,
            label: String::new(),
            help: None,
            span: (0, 0).into(),
            src,
            related: errors,
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
        if self.related.is_empty() {
            Some(&self.src)
        } else {
            None
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if !self.related.is_empty() {
            return None;
        }
        let label = (!self.label.is_empty()).then(|| self.label.clone());
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            label, self.span,
        ))))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|e| e as &dyn Diagnostic)))
    }
}

/// A file that could not be read at all.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("cannot read {path}: {source}")]
#[diagnostic(
    code(roster::io),
    help("check the path; relative paths in the config resolve from the config's folder")
)]
pub struct ReadError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
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
