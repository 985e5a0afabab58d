//! Drawing the impact of a config change (`roster plan --base`), as text or Markdown.

use std::fmt::Write;

use super::budget::{fallback, more_line, none_shown_line, Doc, Fitted, FullPlanAt, Part};
use super::markdown::{cell, prose, value};
use super::show;
use crate::impact::{Effect, Impact, Unit};
use crate::text::{escape, shown};

fn revs(i: &Impact) -> String {
    let short = |r: &Option<crate::plan::Revision>| {
        r.as_ref().map_or("work tree".to_owned(), |r| {
            format!(
                "{}{}",
                &r.commit[..12.min(r.commit.len())],
                if r.dirty { " (dirty)" } else { "" }
            )
        })
    };
    format!("{} → {}", short(&i.base), short(&i.head))
}

fn unit(u: &Unit) -> String {
    unit_with(u, shown, escape, show)
}

/// A unit in words, its names passed through `name` (the username, the role), the field through
/// `field` and the values through `value`: plain text, or Markdown ([`unit_markdown`]).
fn unit_with<'a>(
    u: &'a Unit,
    name: impl Fn(&'a str) -> std::borrow::Cow<'a, str>,
    field: impl Fn(&'a str) -> std::borrow::Cow<'a, str>,
    value: impl Fn(Option<&'a str>) -> String,
) -> String {
    let mut s = format!("{} {}", u.action.name(), name(&u.username));
    if let Some(r) = &u.role {
        let _ = write!(s, " ({})", name(r));
    }
    if let Some(f) = &u.field {
        let _ = write!(
            s,
            " {}: {} → {}",
            field(f),
            value(u.before.as_deref()),
            value(u.after.as_deref())
        );
    }
    s
}

fn effect_line(e: &Effect) -> String {
    format!("{} {}", e.action.symbol(), escape(&e.text))
}

pub fn text(i: &Impact) -> String {
    let mut out = format!("Impact of this config change ({}):\n\n", revs(i));
    if i.config_changes.is_empty() {
        out.push_str("The config did not change.\n\n");
    } else {
        out.push_str("The change:\n");
        for c in &i.config_changes {
            let _ = writeln!(out, "  • {}", escape(c));
        }
        out.push('\n');
    }
    for r in &i.refuses {
        let _ = writeln!(
            out,
            "It makes the plan refused by the safety policy: {}\n",
            escape(r)
        );
    }
    for r in &i.lifts {
        let _ = writeln!(out, "It lifts a refusal of the base plan: {}\n", escape(r));
    }
    if i.effects.is_empty() && i.avoided.is_empty() {
        out.push_str("It changes nothing in the plan.\n\n");
    } else {
        out.push_str("What it does:\n");
        for e in i.effects.iter().chain(&i.avoided) {
            let _ = writeln!(out, "  {}", effect_line(e));
        }
        out.push('\n');
        for u in &i.caused {
            let _ = writeln!(out, "    {} {}", u.action.symbol(), unit(u));
        }
        for u in &i.avoided_units {
            let _ = writeln!(out, "    {} (no longer) {}", u.action.symbol(), unit(u));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Drift, in both plans and not caused by this change: {} change{}.",
        i.drift.len(),
        super::plural(i.drift.len())
    );
    for u in &i.drift {
        let _ = writeln!(out, "    {} {}", u.action.symbol(), unit(u));
    }
    out
}

/// A unit in Markdown: its values as code spans, as in the plan's tables (a value is the
/// directory's text: a URL in it must not become a link).
fn unit_markdown(u: &Unit) -> String {
    unit_with(
        u,
        |t| std::borrow::Cow::Owned(cell(&shown(t)).into_owned()),
        |t| cell(t),
        value,
    )
}

/// A unit as a Markdown list item. The action's symbol is a code span: a bare `+` or `-` after
/// the item's `- ` would open a nested list and be lost.
fn unit_item(u: &Unit) -> String {
    format!("- `{}` {}\n", u.action.symbol(), unit_markdown(u))
}

/// The whole Markdown impact.
pub fn markdown(i: &Impact) -> String {
    document(i, usize::MAX, &FullPlanAt::default()).whole()
}

/// The Markdown impact in at most `max` bytes (`render::budget`): what refuses the plan, the
/// effects table and the config change's first line, a line saying it is cut, the config
/// change whole, one count line per section (the changes it causes, the drift; those that do
/// not fit counted in one line), the note saying where the full plan is (`at`), then the first
/// changes it causes, then the drift's.
pub fn markdown_within(i: &Impact, max: usize, at: &FullPlanAt) -> Fitted {
    let fitted = document(i, max, at).fit(max);
    if !fitted.text.is_empty() {
        return fitted;
    }
    Fitted {
        text: fallback(
            max,
            &[
                "**Roster: the impact of this change is too large for this comment; see the full plan.**\n",
                "Roster: see the full plan.\n",
            ],
        ),
        complete: false,
    }
}

/// Ranks, most important first (see [`markdown_within`]).
const KEY: u8 = 0;
const EFFECTS: u8 = 1;
const CUT: u8 = 2;
const CONFIG: u8 = 3;
const TALLY: u8 = 4;
const SECTIONS: u8 = 5;
const NOTE: u8 = 6;
const CAUSED_ROWS: u8 = 7;
const DRIFT_ROWS: u8 = 8;
const WHOLE_NOTE: u8 = 9;

fn document(i: &Impact, max: usize, at: &FullPlanAt) -> Doc {
    let mut doc = Doc::default();
    doc.push(Part::fixed(
        KEY,
        format!(
            "## Roster: impact of this change\n\n<sub>{}</sub>\n\n",
            revs(i)
        ),
    ));
    doc.notice([CUT, NOTE, WHOLE_NOTE], max, at);
    // What refuses the plan is what a reviewer must see first.
    for r in &i.refuses {
        doc.push(
            Part::fixed(
                KEY,
                format!(
                    "> [!CAUTION]\n> **This change makes the plan refused by the safety policy:** {}\n\n",
                    prose(r)
                ),
            )
            .key(),
        );
    }
    for r in &i.lifts {
        doc.push(Part::fixed(
            EFFECTS,
            format!(
                "> [!NOTE]\n> This change lifts a refusal of the base plan: {}\n\n",
                prose(r)
            ),
        ));
    }
    if !i.config_changes.is_empty() {
        let at = at.clone();
        doc.push(
            Part::list(
                EFFECTS,
                "",
                i.config_changes
                    .iter()
                    .map(|c| format!("- {}\n", prose(c)))
                    .collect(),
                "\n",
                move |n| {
                    format!(
                        "- {}\n",
                        more_line(n, "config change", "config changes", &at)
                    )
                },
            )
            .items_at(CONFIG),
        );
    }
    // A section: its count line at SECTIONS, its rows at `rows`.
    let section = |head: String, items: Vec<String>, tail: &str, rows: u8, one, many| {
        let (at, bare_at) = (at.clone(), at.clone());
        Part::list(SECTIONS, head, items, tail, move |n| {
            format!("\n{}\n", more_line(n, one, many, &at))
        })
        .bare(move |n| format!("{}\n\n", none_shown_line(n, one, many, &bare_at)))
        .items_at(rows)
        .section()
    };
    if i.effects.is_empty() && i.avoided.is_empty() {
        doc.push(Part::fixed(EFFECTS, "**It changes nothing in the plan.**\n\n").key());
    } else {
        let at = at.clone();
        doc.push(
            Part::list(
                EFFECTS,
                "| Effect | Accounts |\n|---|---:|\n",
                i.effects
                    .iter()
                    .chain(&i.avoided)
                    .map(|e| {
                        format!(
                            "| {} {} | {} |\n",
                            e.action.symbol(),
                            prose(&e.text),
                            e.accounts
                        )
                    })
                    .collect(),
                "\n",
                move |n| format!("\n{}\n\n", more_line(n, "effect", "effects", &at)),
            )
            .key(),
        );
        doc.push(section(
            "<details><summary>Changes caused by this change</summary>\n\n".into(),
            i.caused
                .iter()
                .map(unit_item)
                .chain(i.avoided_units.iter().map(|u| {
                    format!(
                        "- `{}` no longer: {}\n",
                        u.action.symbol(),
                        unit_markdown(u)
                    )
                }))
                .collect(),
            "\n</details>\n\n",
            CAUSED_ROWS,
            "change caused by this change",
            "changes caused by this change",
        ));
    }
    if !i.drift.is_empty() {
        doc.push(section(
            format!(
                "<details><summary>Drift: {} change{} in both plans, not caused by this change</summary>\n\n",
                i.drift.len(),
                super::plural(i.drift.len())
            ),
            i.drift.iter().map(unit_item).collect(),
            "\n</details>\n",
            DRIFT_ROWS,
            "drift change",
            "drift changes",
        ));
    }
    doc.push(Part::tally(TALLY));
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    #[test]
    fn hostile_usernames_and_values_are_escaped() {
        let unit = |action, username: &str| Unit {
            action,
            username: username.into(),
            field: Some("job_title".into()),
            role: None,
            before: Some("\x1b]0;pwned\x07".into()),
            after: Some("<b>x</b>".into()),
        };
        let i = Impact {
            format_version: 1,
            base: None,
            head: None,
            config_changes: vec!["adds syncing group cn=x\n  • removes everything".into()],
            effects: vec![Effect {
                action: Action::Update,
                field: Some("job_title".into()),
                role: None,
                accounts: 1,
                text: "rewrites job_title for 1 account".into(),
            }],
            avoided: vec![],
            caused: vec![unit(Action::Update, "mallory\n    ⊘ block ceo")],
            avoided_units: vec![],
            drift: vec![unit(Action::Block, "eve\x1b[2J")],
            refuses: vec![],
            lifts: vec![],
        };
        let text = text(&i);
        let md = markdown(&i);
        for out in [&text, &md] {
            assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out}");
            assert!(!out.contains("\n    ⊘ block ceo"), "{out}");
            assert!(!out.contains("\n  • removes"), "{out}");
        }
        assert!(
            text.contains(
                r#"update "mallory\n    ⊘ block ceo" job_title: "\x1b]0;pwned\x07" → "<b>x</b>""#
            ),
            "{text}"
        );
        // Values are code spans, as in the plan's tables: literal, never HTML or a link.
        assert!(md.contains(r#"`\x1b]0;pwned\x07` → `<b>x</b>`"#), "{md}");
    }
}
