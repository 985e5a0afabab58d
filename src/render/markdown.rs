//! The Markdown plan, for a pull-request comment: what refuses the plan and what a reviewer must
//! see first, then the summary table, then the details per action in collapsible sections (the
//! blocks open), in the plan's stable order. With a size budget (`--max-bytes`) the sections are
//! cut to their first rows (`render::budget`).

use std::fmt::Write;

use super::budget::{fallback, more_line, none_shown_line, Doc, Fitted, FullPlanAt, Part};
use super::{headline, summary_line};
use crate::plan::{Action, Change, Plan};
use crate::policy::Refusal;
use crate::text::shown;

/// Text for a Markdown table cell or list item: see [`crate::text::markdown`].
pub(crate) fn cell(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::markdown(s)
}

/// Roster's own words in a cell or a line, with their `` `…` `` parts as code spans.
pub(crate) fn prose(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::prose(s)
}

/// A field value as a code span ([`crate::text::code`]); `""` for the empty string.
pub(crate) fn value(v: Option<&str>) -> String {
    match v {
        Some("") => "`\"\"`".into(),
        Some(s) => crate::text::code(s),
        None => "*(none)*".into(),
    }
}

/// The whole Markdown plan.
pub fn render(plan: &Plan, refusals: &[Refusal]) -> String {
    document(plan, refusals, usize::MAX, &FullPlanAt::default()).whole()
}

/// The Markdown plan in at most `max` bytes (`render::budget`): whole when it fits;
/// else, in this order, the first line of what refuses the plan, the summary line, a line saying
/// it is cut, each refused rule's message, one count line per section (the blocks first; those
/// that do not fit counted in one line), the note saying where the full plan is (`at`), the
/// blocks' first rows, the count table, the warnings, how to allow each refused rule, the other
/// actions' first rows. `complete` is false when even the summary did not fit (the text is then
/// the refusal, or the shortest line that fits, or nothing).
pub fn render_within(plan: &Plan, refusals: &[Refusal], max: usize, at: &FullPlanAt) -> Fitted {
    let fitted = document(plan, refusals, max, at).fit(max);
    if !fitted.text.is_empty() {
        return fitted;
    }
    let lines: &[&str] = if refusals.is_empty() {
        &[
            "**Roster plan: too large for this comment; see the full plan.**\n",
            "Roster plan: see the full plan.\n",
        ]
    } else {
        &[
            "**Roster plan: refused by the safety policy; see the full plan.**\n",
            "Roster plan refused; see the full plan.\n",
            "Plan refused.\n",
        ]
    };
    Fitted {
        text: fallback(max, lines),
        complete: false,
    }
}

/// Ranks, most important first (see [`render_within`]).
const CAUTION: u8 = 0;
const SUMMARY: u8 = 1;
const CUT: u8 = 2;
const RULES: u8 = 3;
const TALLY: u8 = 4;
const BLOCKS: u8 = 5;
const SECTIONS: u8 = 6;
const TITLE: u8 = 7;
const NOTE: u8 = 8;
const BLOCK_ROWS: u8 = 9;
const COUNTS: u8 = 10;
const WARNINGS: u8 = 11;
const HOW_TO_ALLOW: u8 = 12;
const ROWS: u8 = 13;
const WHOLE_NOTE: u8 = 14;
const FOOTER: u8 = 15;

fn document(plan: &Plan, refusals: &[Refusal], max: usize, at: &FullPlanAt) -> Doc {
    let mut doc = Doc::default();
    doc.push(Part::fixed(TITLE, "## Roster plan\n\n"));
    doc.notice([CUT, NOTE, WHOLE_NOTE], max, at);
    if !refusals.is_empty() {
        doc.push(
            Part::list(
                CAUTION,
                format!(
                    "> [!CAUTION]\n> **Refused by the safety policy** ({} rule{}): nothing was changed, and this plan cannot be applied.\n",
                    refusals.len(),
                    super::plural(refusals.len())
                ),
                refusals
                    .iter()
                    .map(|r| format!("> - {} ({})\n", prose(&r.message), prose(&r.help)))
                    .collect(),
                "\n",
                |n| format!("> - … and {n} more (see the full plan)\n"),
            )
            .items_at(RULES)
            .short_items(
                refusals
                    .iter()
                    .map(|r| format!("> - {}\n", prose(&r.message)))
                    .collect(),
                HOW_TO_ALLOW,
            )
            .more_optional(),
        );
    }
    doc.push(Part::fixed(SUMMARY, format!("**{}**\n\n", summary_line(&plan.summary))).key());
    if !plan.warnings.is_empty() {
        let at = at.clone();
        doc.push(Part::list(
            WARNINGS,
            "",
            plan.warnings
                .iter()
                .map(|w| format!("> [!WARNING]\n> {}\n\n", prose(w)))
                .collect(),
            "",
            move |n| {
                format!(
                    "> [!WARNING]\n> {}\n\n",
                    more_line(n, "warning", "warnings", &at)
                )
            },
        ));
    }
    let mut top = format!("{}\n\n", super::licence_line(plan));
    for exception in plan.allowances.describe() {
        let _ = writeln!(top, "- {exception}");
    }
    if !plan.allowances.flags().is_empty() {
        top.push('\n');
    }
    if !plan.changes.is_empty() {
        top.push_str("| Action | Count |\n|---|---:|\n");
        for a in Action::ALL {
            let n = plan.summary.count(a);
            if n > 0 {
                let _ = writeln!(top, "| {} {} | {n} |", a.symbol(), a.name());
            }
        }
        top.push('\n');
    }
    doc.push(Part::fixed(COUNTS, top));
    for a in Action::ALL {
        let changes: Vec<&Change> = plan.changes.iter().filter(|c| c.action == a).collect();
        if changes.is_empty() {
            continue;
        }
        // Blocks are what a reviewer must see: open by default.
        let open = if a == Action::Block { " open" } else { "" };
        let mut head = format!(
            "<details{open}><summary>{} {} ({})</summary>\n\n",
            a.symbol(),
            a.name(),
            changes.len()
        );
        let with_fields = matches!(a, Action::Create | Action::Update | Action::Link);
        let rows = if with_fields {
            head.push_str("| Account | Field | Before | After | Why |\n|---|---|---|---|---|\n");
            changes.iter().map(|c| field_rows(c)).collect()
        } else {
            head.push_str("| Change | Reason |\n|---|---|\n");
            changes
                .iter()
                .map(|c| format!("| {} | {} |\n", cell(&headline(c)), prose(&c.reason)))
                .collect()
        };
        let (one, many) = match a {
            Action::Create => ("account to create", "accounts to create"),
            Action::Link => ("account to link", "accounts to link"),
            Action::Rename => ("rename", "renames"),
            Action::Update => ("account to update", "accounts to update"),
            Action::Reactivate => ("account to reactivate", "accounts to reactivate"),
            Action::Block => ("account to block", "accounts to block"),
            Action::Grant => ("role grant", "role grants"),
            Action::Revoke => ("role revoke", "role revokes"),
        };
        // Blocks are what a reviewer must see: their count line first, their rows before the
        // count table.
        let (rank, rows_rank) = match a {
            Action::Block => (BLOCKS, BLOCK_ROWS),
            _ => (SECTIONS, ROWS),
        };
        let (at, bare_at) = (at.clone(), at.clone());
        doc.push(
            Part::list(rank, head, rows, "\n</details>\n\n", move |n| {
                format!("\n{}\n", more_line(n, one, many, &at))
            })
            .bare(move |n| format!("{}\n\n", none_shown_line(n, one, many, &bare_at)))
            .items_at(rows_rank)
            .section(),
        );
    }
    doc.push(Part::tally(TALLY));
    let read = plan
        .inputs
        .intranet_read
        .as_ref()
        .map(|r| {
            let mut line = format!(" · intranet read: {}", prose(&r.describe()));
            for more in r
                .writes
                .iter()
                .map(|w| format!("writes: {w}"))
                .chain(r.notes.clone())
            {
                line.push_str(&format!(" · {}", prose(&more)));
            }
            line
        })
        .unwrap_or_default();
    doc.push(Part::fixed(
        FOOTER,
        format!(
            "<sub>config `{}` · directory `{}` · intranet `{}`{read}</sub>\n",
            short(&plan.inputs.config),
            short(&plan.inputs.directory),
            short(&plan.inputs.intranet)
        ),
    ));
    doc
}

/// The table rows of a change with fields (create, update, link), one per field, together: a
/// cut never separates them. The account's first row says why: a create's and a link's reason
/// (a link also names the directory ID it sets), an update's per field (where it comes from).
fn field_rows(c: &Change) -> String {
    let mut out = String::new();
    let mut who = cell(&shown(&c.username)).into_owned();
    if c.action == Action::Link {
        let _ = write!(
            who,
            " → directory ID {}",
            value(Some(c.external_id.as_deref().unwrap_or("?")))
        );
    }
    let reason = match c.action {
        Action::Update => String::new(),
        _ => prose(&c.reason).into_owned(),
    };
    if c.fields.is_empty() {
        let _ = writeln!(out, "| {who} | | | | {reason} |");
    }
    for (i, f) in c.fields.iter().enumerate() {
        let why = match c.action {
            Action::Update => super::origin(f).to_owned(),
            _ if i == 0 => reason.clone(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {why} |",
            if i == 0 { who.as_str() } else { "" },
            cell(&f.name),
            value(f.before.as_deref()),
            value(f.after.as_deref())
        );
    }
    out
}

fn short(d: &str) -> &str {
    crate::digest::short(d, 12)
}

#[cfg(test)]
mod tests {
    use crate::plan::{Inputs, IntranetRead, Plan, ReadMode};

    #[test]
    fn how_the_intranet_is_read_and_written_is_in_both_renderings() {
        let inputs = Inputs {
            intranet_read: Some(IntranetRead {
                mode: ReadMode::Full,
                since: None,
                users_read: 3,
                users: 3,
                cache_age_seconds: None,
                note: Some("no cache yet".into()),
                writes: Some("one request per change (the service announces no Bulk)".into()),
                notes: vec!["the service refused `attributes=` (HTTP 400); Roster read full resources instead".into()],
                concurrency: None,
            }),
            ..Inputs::default()
        };
        let block = crate::plan::Change {
            action: crate::plan::Action::Block,
            username: "ada".into(),
            external_id: None,
            intranet_id: Some("1".into()),
            etag: None,
            fields: vec![],
            role: None,
            reason: "left".into(),
        };
        let plan = Plan::new(inputs, vec![], vec![block]);
        let text = super::super::text::render(&plan, false);
        assert!(
            text.starts_with(
                "Intranet read: full (3 users; no cache yet)\n\
                 Intranet writes: one request per change (the service announces no Bulk)\n\
                 Intranet note: the service refused `attributes=` (HTTP 400); Roster read full resources instead\n\n"
            ),
            "{text}"
        );
        let md = super::render(&plan, &[]);
        assert!(
            md.contains(" · writes: one request per change (the service announces no Bulk) · the service refused `attributes=` (HTTP 400); Roster read full resources instead</sub>"),
            "{md}"
        );
    }
}
