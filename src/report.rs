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

/// One change of the plan and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeOutcome {
    pub change: Change,
    pub outcome: Outcome,
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
    /// "N applied, N failed, N stale": the outcome in one line, as the terminal, the audit
    /// report and its commit say it.
    pub fn tally(&self) -> String {
        let mut t = format!(
            "{} applied, {} failed, {} stale",
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
    pub fn is_complete(&self) -> bool {
        self.outcomes.iter().all(|o| o.outcome == Outcome::Applied)
    }
    pub fn exit_code(&self) -> u8 {
        if self.is_complete() {
            crate::exit::OK
        } else {
            crate::exit::PARTIAL
        }
    }
}
