//! The Markdown plan, for a pull-request comment: summary table first, then the details per
//! action in collapsible sections, in the plan's stable order.

use std::fmt::Write;

use super::{headline, summary_line};
use crate::plan::{Action, Plan};
use crate::text::shown;

/// Text for a Markdown table cell or list item: see [`crate::text::markdown`].
pub(crate) fn cell(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::markdown(s)
}

/// A field value as a code span ([`crate::text::code`]); `""` for the empty string.
fn value(v: Option<&str>) -> String {
    match v {
        Some("") => "`\"\"`".into(),
        Some(s) => crate::text::code(s),
        None => "*(none)*".into(),
    }
}

pub fn render(plan: &Plan) -> String {
    let mut out = String::from("## Roster plan\n\n");
    for w in &plan.warnings {
        let _ = writeln!(out, "> [!WARNING]\n> {}\n", cell(w));
    }
    let _ = writeln!(
        out,
        "**{}**\n\n{}\n",
        summary_line(&plan.summary),
        super::licence_line(plan)
    );
    if plan.changes.is_empty() {
        return out;
    }
    out.push_str("| Action | Count |\n|---|---:|\n");
    for a in Action::ALL {
        let n = plan.summary.count(a);
        if n > 0 {
            let _ = writeln!(out, "| {} {} | {n} |", a.symbol(), a.name());
        }
    }
    out.push('\n');
    for a in Action::ALL {
        let changes: Vec<_> = plan.changes.iter().filter(|c| c.action == a).collect();
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<details><summary>{} {} ({})</summary>\n",
            a.symbol(),
            a.name(),
            changes.len()
        );
        let with_fields = matches!(a, Action::Create | Action::Update | Action::Link);
        if with_fields {
            out.push_str("| Account | Field | Before | After | Why |\n|---|---|---|---|---|\n");
            for c in changes {
                if c.fields.is_empty() {
                    let _ = writeln!(out, "| {} | | | | |", cell(&shown(&c.username)));
                }
                for (i, f) in c.fields.iter().enumerate() {
                    let who = if i == 0 {
                        cell(&shown(&c.username)).into_owned()
                    } else {
                        String::new()
                    };
                    let why = if a == Action::Update {
                        super::origin(f)
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        out,
                        "| {who} | {} | {} | {} | {why} |",
                        cell(&f.name),
                        value(f.before.as_deref()),
                        value(f.after.as_deref())
                    );
                }
            }
        } else {
            out.push_str("| Change | Reason |\n|---|---|\n");
            for c in changes {
                let _ = writeln!(out, "| {} | {} |", cell(&headline(c)), cell(&c.reason));
            }
        }
        out.push_str("\n</details>\n\n");
    }
    let read = plan
        .inputs
        .intranet_read
        .as_ref()
        .map(|r| {
            let mut line = format!(" · intranet read: {}", cell(&r.describe()));
            for more in r
                .writes
                .iter()
                .map(|w| format!("writes: {w}"))
                .chain(r.notes.clone())
            {
                line.push_str(&format!(" · {}", cell(&more)));
            }
            line
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<sub>config `{}` · directory `{}` · intranet `{}`{read}</sub>",
        short(&plan.inputs.config),
        short(&plan.inputs.directory),
        short(&plan.inputs.intranet)
    );
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
        let md = super::render(&plan);
        assert!(
            md.contains(" · writes: one request per change (the service announces no Bulk) · the service refused \\`attributes=\\` (HTTP 400); Roster read full resources instead</sub>"),
            "{md}"
        );
    }
}
