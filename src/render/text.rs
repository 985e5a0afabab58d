//! The text plan: Terraform-like symbols, colour on a terminal only, per-field `before → after`
//! with the changed characters highlighted.

use std::fmt::Write;

use owo_colors::{OwoColorize, Style};
use similar::{ChangeTag, TextDiff};

use super::{headline, show, summary_line};
use crate::plan::{Action, Change, Plan};
use crate::text::{escape, quoted_inner};

fn style(a: Action) -> Style {
    match a {
        Action::Create | Action::Reactivate | Action::Grant => Style::new().green(),
        Action::Update => Style::new().yellow(),
        Action::Rename | Action::Link => Style::new().cyan(),
        Action::Block | Action::Revoke => Style::new().red(),
    }
}

/// Render the plan. `color` adds ANSI colours (the caller decides: a TTY, no NO_COLOR).
pub fn render(plan: &Plan, color: bool) -> String {
    let mut out = String::new();
    let paint = |s: &str, st: Style| {
        if color {
            s.style(st).to_string()
        } else {
            s.to_owned()
        }
    };
    if let Some(read) = &plan.inputs.intranet_read {
        let _ = writeln!(out, "Intranet read: {}", escape(&read.describe()));
        if let Some(writes) = &read.writes {
            let _ = writeln!(out, "Intranet writes: {}", escape(writes));
        }
        for note in &read.notes {
            let _ = writeln!(out, "Intranet note: {}", escape(note));
        }
        out.push('\n');
    }
    for w in &plan.warnings {
        let _ = writeln!(
            out,
            "{} {}",
            paint("Warning:", Style::new().yellow().bold()),
            escape(w)
        );
    }
    if !plan.warnings.is_empty() {
        out.push('\n');
    }
    if plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint(&summary_line(&plan.summary), Style::new().green().bold())
        );
        let _ = writeln!(out, "{}", super::licence_line(plan));
        return out;
    }
    let _ = writeln!(out, "Roster will perform the following actions:\n");
    for c in &plan.changes {
        change(&mut out, c, color);
    }
    let _ = writeln!(
        out,
        "{}",
        paint(&summary_line(&plan.summary), Style::new().bold())
    );
    let _ = writeln!(out, "{}", super::licence_line(plan));
    out
}

/// A change's line as the plan says it: `~ update ada.lovelace  # mapped fields differ from the
/// directory` (its symbol, [`headline`] and escaped reason), coloured when `color`. `roster
/// explain` shows the same line for the same change.
pub fn action_line(c: &Change, color: bool) -> String {
    if !color {
        return c.line();
    }
    let st = style(c.action);
    format!(
        "{} {}{}",
        c.action.symbol().style(st),
        headline(c).style(st.bold()),
        format!("  # {}", escape(&c.reason)).dimmed()
    )
}

fn change(out: &mut String, c: &Change, color: bool) {
    let _ = writeln!(out, "  {}", action_line(c, color));
    let fields: Vec<_> = c
        .fields
        .iter()
        .filter(|f| !(c.action == Action::Rename && f.name == "username"))
        .collect();
    let width = fields
        .iter()
        .map(|f| escape(&f.name).len())
        .max()
        .unwrap_or(0);
    for f in fields {
        let value = match (c.action, &f.before, &f.after) {
            (Action::Create, None, after) => show(after.as_deref()),
            (_, Some(b), Some(a)) if color => inline(b, a),
            (_, b, a) => format!("{} → {}", show(b.as_deref()), show(a.as_deref())),
        };
        let note = if c.action == Action::Update {
            format!("  ({})", super::origin(f))
        } else {
            String::new()
        };
        let note = if color && !note.is_empty() {
            note.dimmed().to_string()
        } else {
            note
        };
        let _ = writeln!(
            out,
            "      {:width$}  {value}{note}",
            format!("{}:", escape(&f.name)),
            width = width + 1
        );
    }
    out.push('\n');
}

/// `"old" → "new"` with the deleted characters in red and the inserted ones in green. Colour
/// wraps escaped text only: an escape sequence in a value is shown as `\x1b`, never sent.
fn inline(before: &str, after: &str) -> String {
    let diff = TextDiff::from_chars(before, after);
    let (mut b, mut a) = (String::new(), String::new());
    for ch in diff.iter_all_changes() {
        let v = quoted_inner(ch.value());
        let v = v.as_ref();
        match ch.tag() {
            ChangeTag::Equal => {
                b.push_str(v);
                a.push_str(v);
            }
            ChangeTag::Delete => b.push_str(&v.on_red().to_string()),
            ChangeTag::Insert => a.push_str(&v.on_green().black().to_string()),
        }
    }
    format!("\"{b}\" → \"{a}\"")
}
