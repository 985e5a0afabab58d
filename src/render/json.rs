//! The JSON plan (`--format json`, `-o plan.json`): the `Plan` type itself, described by
//! `schemas/plan.schema.json`.

use crate::plan::Plan;

pub fn render(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).expect("a plan is JSON");
    s.push('\n');
    s
}

pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Plan)).expect("a schema is JSON")
}
