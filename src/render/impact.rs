//! Drawing the impact of a config change (`roster plan --base`), as text or Markdown.

use std::fmt::Write;

use super::budget::{fallback, more_line, notice, Doc, Fitted, Part};
use super::markdown::{cell, prose};
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
    let mut s = format!("{} {}", u.action.name(), shown(&u.username));
    if let Some(r) = &u.role {
        let _ = write!(s, " ({})", shown(r));
    }
    if let Some(f) = &u.field {
        let _ = write!(
            s,
            " {}: {} → {}",
            escape(f),
            show(u.before.as_deref()),
            show(u.after.as_deref())
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

/// A unit as a Markdown list item. The action's symbol is a code span: a bare `+` or `-` after
/// the item's `- ` would open a nested list and be lost.
fn unit_item(u: &Unit) -> String {
    format!("- `{}` {}\n", u.action.symbol(), cell(&unit(u)))
}

/// The whole Markdown impact.
pub fn markdown(i: &Impact) -> String {
    document(i, usize::MAX).whole()
}

/// The Markdown impact in at most `max` bytes (`render::budget`): the config change
/// and its counted effects whole, then the first of the changes it causes and of the drift.
pub fn markdown_within(i: &Impact, max: usize) -> Fitted {
    let fitted = document(i, max).fit(max);
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

fn document(i: &Impact, max: usize) -> Doc {
    let mut doc = Doc::default();
    doc.push(Part::fixed(
        0,
        format!(
            "## Roster: impact of this change\n\n<sub>{}</sub>\n\n",
            revs(i)
        ),
    ));
    doc.push(notice(0, 6, max));
    if !i.config_changes.is_empty() {
        doc.push(Part::list(
            1,
            "",
            i.config_changes
                .iter()
                .map(|c| format!("- {}\n", prose(c)))
                .collect(),
            "\n",
            |n| format!("- {}\n", more_line(n, "config change", "config changes")),
        ));
    }
    // What refuses the plan is what a reviewer must see first.
    for r in &i.refuses {
        doc.push(
            Part::fixed(
                0,
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
            1,
            format!(
                "> [!NOTE]\n> This change lifts a refusal of the base plan: {}\n\n",
                prose(r)
            ),
        ));
    }
    if i.effects.is_empty() && i.avoided.is_empty() {
        doc.push(Part::fixed(1, "**It changes nothing in the plan.**\n\n").key());
    } else {
        doc.push(
            Part::list(
                1,
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
                |n| format!("\n{}\n\n", more_line(n, "effect", "effects")),
            )
            .key(),
        );
        doc.push(Part::list(
            4,
            "<details><summary>Changes caused by this change</summary>\n\n",
            i.caused
                .iter()
                .map(unit_item)
                .chain(
                    i.avoided_units.iter().map(|u| {
                        format!("- `{}` no longer: {}\n", u.action.symbol(), cell(&unit(u)))
                    }),
                )
                .collect(),
            "\n</details>\n\n",
            |n| format!("\n{}\n", more_line(n, "change", "changes")),
        ));
    }
    if i.drift.is_empty() {
        return doc;
    }
    doc.push(Part::list(
        5,
        format!(
            "<details><summary>Drift: {} change{} in both plans, not caused by this change</summary>\n\n",
            i.drift.len(),
            super::plural(i.drift.len())
        ),
        i.drift.iter().map(unit_item).collect(),
        "\n</details>\n",
        |n| format!("\n{}\n", more_line(n, "change", "changes")),
    ));
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
        assert!(md.contains("&lt;b&gt;x&lt;/b&gt;"), "{md}");
        assert!(!md.contains("<b>"), "{md}");
    }
}
