//! What can be wrong with a CSV directory, as diagnostics: every problem of a read at once, each
//! at `file:line:column` (the line an editor shows the record on, the 1-based field position),
//! the values quoted and escaped. A file too broken to read at all is a [`ReadError`].

use std::fmt;

use miette::Diagnostic;

use crate::diag::ReadError;

/// How many problems a read lists; the rest are counted.
pub const MAX_PROBLEMS: usize = 50;

/// The kinds of problem, each with its code and help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    EmptyFile,
    MissingColumn,
    WrongDelimiter,
    AmbiguousColumn,
    DuplicateId,
    DuplicateUsername,
    Ragged,
    EmptyId,
    EmptyUsername,
    NotUtf8,
    EmptyGroup,
    EmptyMember,
    Malformed,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::EmptyFile => "roster::csv::empty_file",
            Kind::MissingColumn => "roster::csv::missing_column",
            Kind::WrongDelimiter => "roster::csv::wrong_delimiter",
            Kind::AmbiguousColumn => "roster::csv::ambiguous_column",
            Kind::DuplicateId => "roster::csv::duplicate_id",
            Kind::DuplicateUsername => "roster::csv::duplicate_username",
            Kind::Ragged => "roster::csv::ragged_row",
            Kind::EmptyId => "roster::csv::empty_id",
            Kind::EmptyUsername => "roster::csv::empty_username",
            Kind::NotUtf8 => "roster::csv::not_utf8",
            Kind::EmptyGroup => "roster::csv::empty_group",
            Kind::EmptyMember => "roster::csv::empty_member",
            Kind::Malformed => "roster::csv::malformed",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Kind::EmptyFile => "export the file again: its first line names the columns",
            Kind::MissingColumn => "the config names a column the header line does not have: fix the name in the config (columns compare without case), or export the column",
            Kind::WrongDelimiter => "set `delimiter:` to the one the file uses, or leave it out: Roster takes the one the header line uses most",
            Kind::AmbiguousColumn => "two columns of the header have this name (compared without case): rename one in the export",
            Kind::DuplicateId => "an ID names one person: two rows with one ID would be one account; fix the export",
            Kind::DuplicateUsername => "two people cannot hold one username (compared without case): fix the export",
            Kind::Ragged => "every row has as many fields as the header; a value holding the delimiter or a line break is quoted (\"...\"), and `delimiter:` says which one the file uses",
            Kind::EmptyId => "every row needs its immutable ID: without it, the person cannot be matched to an account",
            Kind::EmptyUsername => "every row needs a username",
            Kind::NotUtf8 => "the file is not UTF-8: an export from Excel or an older HR system is often Windows-1252; declare it with `encoding: windows-1252` (or save the file as UTF-8)",
            Kind::EmptyGroup => "every membership row names its group",
            Kind::EmptyMember => "every membership row names its member by the user's ID",
            Kind::Malformed => "the file cannot be read as CSV from here on: export it again",
        }
    }
}

/// One problem, at its place.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: Kind,
    /// `people.csv:12:3`, or `people.csv:1` for the file or its header as a whole.
    pub place: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.help()))
    }
}

/// The problems of one read, collected: the first [`MAX_PROBLEMS`] kept, the rest counted.
#[derive(Debug, Default)]
pub struct Problems {
    pub list: Vec<Problem>,
    pub total: usize,
}

impl Problems {
    pub fn push(&mut self, kind: Kind, place: String, message: String) {
        self.total += 1;
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(Problem {
                kind,
                place,
                message,
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// A CSV directory that cannot be read.
#[derive(Debug)]
pub enum CsvError {
    /// The file cannot be opened or read.
    Read(ReadError),
    /// What is wrong with it, all at once.
    Invalid {
        /// The files read, as the config names them.
        files: String,
        problems: Problems,
    },
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvError::Read(e) => e.fmt(f),
            CsvError::Invalid { files, problems } => {
                let n = problems.total;
                write!(
                    f,
                    "the CSV directory ({files}) has {n} problem{}; nothing was planned",
                    if n == 1 { "" } else { "s" }
                )?;
                if n > problems.list.len() {
                    write!(
                        f,
                        " (the first {} are listed, and {} more)",
                        problems.list.len(),
                        n - problems.list.len()
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CsvError {}

impl Diagnostic for CsvError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            CsvError::Read(e) => e.code(),
            CsvError::Invalid { .. } => Some(Box::new("roster::csv::invalid")),
        }
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            CsvError::Read(e) => e.help(),
            CsvError::Invalid { .. } => Some(Box::new(
                "each problem is at file:line:column (the line an editor shows the row on, the column's position in the row); fix the export or the config's column names, then run again",
            )),
        }
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self {
            CsvError::Read(_) => None,
            CsvError::Invalid { problems, .. } => {
                Some(Box::new(problems.list.iter().map(|p| p as &dyn Diagnostic)))
            }
        }
    }
}

impl From<ReadError> for CsvError {
    fn from(e: ReadError) -> CsvError {
        CsvError::Read(e)
    }
}
