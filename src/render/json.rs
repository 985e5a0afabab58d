//! The JSON plan (`--format json`, `-o plan.json`): the `Plan` type itself, described by
//! `schemas/plan.schema.json`.

use std::fmt::Write;

use crate::plan::Plan;

/// The plan as pretty JSON. serde_json escapes C0 controls (`\u001b`, `\n`); the other
/// characters [`crate::text`] never shows raw (DEL, C1, U+2028/2029, bidi controls) are written
/// as `\uXXXX` too, which is the same JSON: they can only occur inside strings.
pub fn render(plan: &Plan) -> String {
    // The ASCII controls outside strings are the pretty printer's own newlines.
    let hostile = |c: char| c >= '\x7f' && crate::text::is_hostile(c);
    let s = serde_json::to_string_pretty(plan).expect("a plan is JSON");
    let mut out = String::with_capacity(s.len() + 1);
    if s.chars().any(hostile) {
        for c in s.chars() {
            if hostile(c) {
                // Every hostile character is in the Basic Multilingual Plane.
                let _ = write!(out, "\\u{:04x}", c as u32);
            } else {
                out.push(c);
            }
        }
    } else {
        out = s;
    }
    out.push('\n');
    out
}

pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Plan)).expect("a schema is JSON")
}
