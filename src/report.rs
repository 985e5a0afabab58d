//! What became of each change of an apply: the outcome the executor gives every change, and the
//! report the terminal and the audit show. Plain data, shared by `apply`, the targets and `audit`.

use serde::Serialize;

use crate::plan::Change;

/// What became of one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    /// Not applied: the server refused it, or it could not be sent.
    Failed {
        #[serde(skip_serializing_if = "Option::is_none")]
        http_status: Option<u16>,
        detail: String,
    },
    /// Not applied: the resource changed since the plan (412 on `If-Match`).
    Stale {
        detail: String,
    },
    /// Not applied: the apply was interrupted (SIGINT, SIGTERM) before this write started.
    NotStarted {
        detail: String,
    },
    /// Unknown: the write was sent, and the apply stopped waiting for its answer (a second
    /// signal, or the in-flight bound after the first). Planning again shows whether it landed.
    Unknown {
        detail: String,
    },
}

impl Outcome {
    /// In words, for the terminal: `failed (HTTP 400): ...`, `stale: ...`.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Applied => "applied".into(),
            Outcome::Failed {
                http_status: Some(s),
                detail,
            } if detail.trim().is_empty() => format!("failed (HTTP {s})"),
            Outcome::Failed {
                http_status: Some(s),
                detail,
            } => format!("failed (HTTP {s}): {detail}"),
            Outcome::Failed {
                http_status: None,
                detail,
            } => format!("failed: {detail}"),
            Outcome::Stale { detail } => format!("stale (changed since the plan): {detail}"),
            Outcome::NotStarted { detail } => format!("not started ({detail})"),
            Outcome::Unknown { detail } => format!("unknown: {detail}"),
        }
    }

    /// A failure applying again will meet again: the service refused the write (an HTTP status
    /// other than a timeout, throttling or an unavailable gateway, which were already retried).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Outcome::Failed { http_status: Some(s), .. } if !matches!(s, 408 | 429 | 502 | 503 | 504))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Failed { .. } => "failed",
            Outcome::Stale { .. } => "stale",
            Outcome::NotStarted { .. } => "not_started",
            Outcome::Unknown { .. } => "unknown",
        }
    }
    pub fn not_started() -> Outcome {
        Outcome::NotStarted {
            detail: "interrupted".into(),
        }
    }
    pub fn unknown() -> Outcome {
        Outcome::Unknown {
            detail: "sent, but the apply was interrupted before the answer came: plan again to \
                     see whether it was applied"
                .into(),
        }
    }
    pub fn failed(detail: impl Into<String>) -> Outcome {
        Outcome::Failed {
            http_status: None,
            detail: detail.into(),
        }
    }
    /// Refused by the target with `status` (an HTTP status, or its equivalent).
    pub fn refused(status: u16, detail: impl Into<String>) -> Outcome {
        Outcome::Failed {
            http_status: Some(status),
            detail: detail.into(),
        }
    }
}

/// A mapped field a write sent and the resource the service answered with does not hold: the
/// service dropped it (it does not support the attribute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotStored {
    /// The intranet field (`job_title`).
    pub field: String,
    /// Its SCIM attribute (`title`, `phoneNumbers`).
    pub attribute: String,
}

/// `job_title (title), phone (phoneNumbers)`.
pub fn describe_not_stored(fields: &[NotStored]) -> String {
    fields
        .iter()
        .map(|f| format!("{} ({})", f.field, f.attribute))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One change of the plan and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeOutcome {
    pub change: Change,
    pub outcome: Outcome,
    /// Applied, but the resource the service answered with lacks these fields Roster sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_stored: Vec<NotStored>,
}

impl ChangeOutcome {
    /// The outcome in words, with the fields the service did not store: `applied, but the
    /// service did not store job_title (title)`.
    pub fn describe(&self) -> String {
        match self.not_stored.is_empty() {
            true => self.outcome.describe(),
            false => format!(
                "{}, but the service did not store {}",
                self.outcome.describe(),
                describe_not_stored(&self.not_stored)
            ),
        }
    }

    /// For the terminal: `created ada.lovelace, but the service did not store job_title
    /// (title)`, or `update ada.lovelace: failed (HTTP 400): …`.
    pub fn line(&self) -> String {
        let who = crate::text::shown(&self.change.username);
        if self.outcome == Outcome::Applied && !self.not_stored.is_empty() {
            return format!(
                "{} {who}, but the service did not store {}",
                self.change.action.done(),
                describe_not_stored(&self.not_stored)
            );
        }
        format!("{} {who}: {}", self.change.action.name(), self.describe())
    }
}

/// The outcome of every change, in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    pub outcomes: Vec<ChangeOutcome>,
    /// The requests the writes took, when the target counts them (SCIM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes: Option<WriteSummary>,
}

/// The requests an apply's writes took, and how many were in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteSummary {
    /// Single writes (POST, PATCH) answered.
    pub requests: usize,
    /// Bulk requests answered.
    pub bulk_requests: usize,
    pub concurrency: crate::plan::Concurrency,
}

impl WriteSummary {
    /// `300 requests, concurrency adaptive up to 32 (settled at 24)`; `2 Bulk requests and 1
    /// single request, concurrency …`.
    pub fn describe(&self) -> String {
        let n = |k: usize, what: &str| format!("{k} {what}{}", crate::render::plural(k));
        let requests = match (self.bulk_requests, self.requests) {
            (0, r) => n(r, "request"),
            (b, 0) => n(b, "Bulk request"),
            (b, r) => format!("{} and {}", n(b, "Bulk request"), n(r, "single request")),
        };
        format!("{requests}, concurrency {}", self.concurrency.describe())
    }
}

impl ApplyReport {
    pub fn count(&self, status: &str) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.outcome.name() == status)
            .count()
    }
    /// Directory immutable ID → the fields the service did not store, for the state file.
    pub fn not_stored_by_account(
        &self,
    ) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
        let mut m = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
        for o in self.outcomes.iter().filter(|o| !o.not_stored.is_empty()) {
            if let Some(id) = &o.change.external_id {
                m.entry(id.clone())
                    .or_default()
                    .extend(o.not_stored.iter().map(|f| f.field.clone()));
            }
        }
        m
    }

    /// The distinct fields the service did not store, and on how many accounts.
    fn not_stored(&self) -> (usize, usize) {
        let with: Vec<&ChangeOutcome> = self
            .outcomes
            .iter()
            .filter(|o| !o.not_stored.is_empty())
            .collect();
        let fields: std::collections::BTreeSet<&str> = with
            .iter()
            .flat_map(|o| o.not_stored.iter().map(|f| f.field.as_str()))
            .collect();
        (fields.len(), with.len())
    }

    /// "N applied, N failed, N stale": the outcome in one line, as the terminal, the audit
    /// report and its commit say it; `23 applied (2 fields not stored on 23 accounts), …` when
    /// the service dropped fields it was sent.
    pub fn tally(&self) -> String {
        let not_stored = match self.not_stored() {
            (0, _) => String::new(),
            (f, a) => format!(
                " ({f} field{} not stored on {a} account{})",
                crate::render::plural(f),
                crate::render::plural(a)
            ),
        };
        let mut t = format!(
            "{} applied{not_stored}, {} failed, {} stale",
            self.count("applied"),
            self.count("failed"),
            self.count("stale")
        );
        for (status, words) in [("not_started", "not started"), ("unknown", "unknown")] {
            let n = self.count(status);
            if n > 0 {
                t.push_str(&format!(", {n} {words}"));
            }
        }
        t
    }
    /// Every change applied, and the service stored every field it was sent.
    pub fn is_complete(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| o.outcome == Outcome::Applied && o.not_stored.is_empty())
    }

    /// What to do next when the apply is not complete, in the words both the terminal and the
    /// audit report use: a second apply converges only when nothing was refused by the service
    /// and every field sent was stored.
    pub fn next_step(&self) -> Option<String> {
        if self.is_complete() {
            return None;
        }
        let refused = self
            .outcomes
            .iter()
            .filter(|o| o.outcome.is_permanent())
            .count();
        let (fields, accounts) = self.not_stored();
        if refused == 0 && fields == 0 {
            return Some("Plan again to see what is left; a second apply converges.".into());
        }
        let mut s = String::from("Plan again to see what is left.");
        if refused > 0 {
            s.push_str(&format!(
                " The service refused {refused} change{} (listed above): applying again meets the same refusal until the cause is fixed on the service or in the config.",
                crate::render::plural(refused)
            ));
        }
        if fields > 0 {
            s.push_str(&format!(
                " The service did not store {fields} field{} on {accounts} account{} (listed above): it answered without them, so it does not keep them; applying again sends them again, and they stay unstored until the service supports them or they are no longer mapped.",
                crate::render::plural(fields),
                crate::render::plural(accounts)
            ));
        }
        Some(s)
    }
    pub fn exit_code(&self) -> u8 {
        if self.is_complete() {
            crate::exit::OK
        } else {
            crate::exit::PARTIAL
        }
    }
}
