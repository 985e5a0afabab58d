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
        SourceError {
            code,
            message: message.into(),
            label: String::new(),
            help: None,
            span: span.into(),
            src: src.named(),
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
    pub fn also(mut self, span: impl Into<SourceSpan>, label: impl Into<String>) -> Self {
        self.also.push((span.into(), label.into()));
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

/// Read a file as UTF-8 text for diagnostics.
pub fn read_source(path: &Path) -> Result<Source, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError {
        path: path.display().to_string(),
        source,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok(Source::new(path, text))
}
