//! `roster explain` for people. Reads an [`Explanation`] and never decides anything.

use std::fmt::Write;

use crate::explain::Explanation;
use crate::text::{escape, quoted, shown};

fn value(v: Option<&str>) -> String {
    v.map_or_else(|| "(none)".to_owned(), quoted)
}

pub fn text(e: &Explanation) -> String {
    let mut o = String::new();
    let who = e
        .directory
        .as_ref()
        .map(|d| d.username.as_str())
        .or(e.account.as_ref().map(|a| a.username.as_str()))
        .unwrap_or(&e.query);
    let _ = writeln!(o, "Explain {}", shown(who));
    let _ = writeln!(o);
    let _ = writeln!(o, "Directory:");
    match &e.directory {
        Some(d) => {
            let _ = writeln!(o, "  DN:        {}", shown(&d.dn));
            let _ = writeln!(
                o,
                "  username:  {} (from {})",
                shown(&d.username),
                shown(&d.username_attribute)
            );
            let _ = writeln!(
                o,
                "  ID:        {} (from {})",
                shown(&d.id),
                shown(&d.id_attribute)
            );
        }
        None => {
            let _ = writeln!(o, "  no directory user");
        }
    }
    let _ = writeln!(o, "Intranet:");
    match &e.account {
        Some(a) => {
            let _ = writeln!(
                o,
                "  account:   {} ({}, {}), SCIM id {}",
                shown(&a.username),
                a.kind,
                if a.active { "active" } else { "blocked" },
                shown(&a.id)
            );
            if let Some(ext) = &a.external_id {
                let _ = writeln!(o, "  externalId: {}", shown(ext));
            }
        }
        None => {
            let _ = writeln!(o, "  no account");
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "Syncing groups:");
    for g in &e.syncing.groups {
        if g.path.is_empty() {
            let _ = writeln!(
                o,
                "  {}: {}",
                shown(&g.group),
                g.note.as_deref().unwrap_or("member")
            );
        } else {
            let path: Vec<_> = g.path.iter().map(|p| shown(p).into_owned()).collect();
            let _ = writeln!(o, "  {} ∋ {}", path.join(" ⊃ "), shown(who));
        }
    }
    if let Some(why) = &e.syncing.why {
        let _ = writeln!(o, "  none: {why}");
    }
    let _ = writeln!(o, "Disabled rule: {}", e.disabled.rule);
    match &e.disabled.matched {
        Some(m) => {
            let _ = writeln!(o, "  disabled: matched {}", shown(m));
        }
        None if e.directory.is_none() => {
            let _ = writeln!(o, "  no directory user to match");
        }
        None if e.disabled.disabled => {
            let _ = writeln!(o, "  disabled");
        }
        None => {
            let _ = writeln!(o, "  not disabled: nothing matched");
        }
    }
    if !e.fields.is_empty() {
        let _ = writeln!(o, "Mapped fields:");
        for f in &e.fields {
            // A field that agrees on both sides (and with the last apply) takes one line.
            let agrees = f.directory == f.intranet
                && f.last_applied.as_ref().is_none_or(|l| *l == f.intranet);
            if agrees && e.directory.is_some() && e.account.is_some() {
                let _ = writeln!(
                    o,
                    "  {} ← {}: {} ({})",
                    f.field,
                    shown(&f.mapping),
                    value(f.directory.as_deref()),
                    f.provenance
                );
                continue;
            }
            let _ = writeln!(o, "  {} ← {}", f.field, shown(&f.mapping));
            let _ = writeln!(o, "      directory:    {}", value(f.directory.as_deref()));
            let _ = writeln!(o, "      intranet:     {}", value(f.intranet.as_deref()));
            if let Some(last) = &f.last_applied {
                let _ = writeln!(o, "      last applied: {}", value(last.as_deref()));
            }
            let _ = writeln!(o, "      → {}", f.provenance);
        }
    }
    if !e.roles.is_empty() {
        let _ = writeln!(o, "Admin roles:");
        for r in &e.roles {
            let mut via: Vec<String> = r
                .paths
                .iter()
                .map(|p| {
                    let p: Vec<_> = p.iter().map(|g| shown(g).into_owned()).collect();
                    format!("{} ∋ {}", p.join(" ⊃ "), shown(who))
                })
                .collect();
            if r.listed {
                via.push("members.users".into());
            }
            if r.untraced {
                via.push("a membership explain cannot trace (no member path)".into());
            }
            let should = if r.should_hold {
                format!("should hold, via {}", via.join("; "))
            } else {
                "should not hold".to_owned()
            };
            let _ = writeln!(
                o,
                "  {} ({}): {}; {}",
                r.role,
                shown(&r.intranet_group),
                should,
                if r.holds {
                    "holds it"
                } else {
                    "does not hold it"
                }
            );
        }
    }
    let _ = writeln!(o, "Protected: {}", e.protected.rule);
    let _ = writeln!(o, "Adopt: {}", e.adopt.rule);
    for w in &e.warnings {
        let _ = writeln!(o, "Warning: {}", escape(w));
    }
    for c in &e.conflicts {
        let _ = writeln!(o, "Conflict: {}", escape(c));
    }
    let _ = writeln!(o);
    if e.changes.is_empty() {
        let _ = writeln!(o, "Action: {}", e.outcome);
    } else {
        let _ = writeln!(o, "Action (from the plan):");
        for c in &e.changes {
            let _ = writeln!(o, "  {}", super::text::action_line(c, false));
        }
    }
    // A refused plan applies nothing: said right under the action, one line per rule.
    for r in &e.refused {
        let _ = writeln!(
            o,
            "The plan is refused by the safety policy ({}: {}): nothing would be applied",
            rule_name(r.rule),
            escape(&r.message)
        );
    }
    o
}

/// A safety policy rule as the config names it (`policy.max_blocks`); the read guard on an
/// empty directory read has no setting.
fn rule_name(rule: &str) -> String {
    match rule {
        "empty_directory" => "the read guard".to_owned(),
        rule => format!("policy.{rule}"),
    }
}
