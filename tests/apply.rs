//! `roster apply` as a user runs it against a real scim2-server: saved plans whose figures lie,
//! allowances with `--base`, interruptions, the checks before the first write, exit codes after
//! it, and configs with uncommitted changes.

use std::path::PathBuf;

use serde_json::Value;

use crate::cli::roster;
use crate::scim::{quickstart_body, seed_quickstart, Site, QUICKSTART};
use crate::support::scim::ScimServer;

/// The quickstart against a live server, with `policy` lines added, its config committed.
fn committed_quickstart(server: &ScimServer, policy: &str) -> Site {
    seed_quickstart(server);
    let body = quickstart_body().replace(
        "  protected: [breakglass]",
        &format!("  protected: [breakglass]\n{policy}"),
    );
    let site = Site::new(
        server,
        &PathBuf::from(format!("{QUICKSTART}/directory.ldif")),
        &body,
    );
    site.git(&["add", "roster.yaml"]);
    site.git(&["commit", "-qm", "config"]);
    site
}

fn read_json(site: &Site, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(site.path(name)).unwrap()).unwrap()
}

fn write_json(site: &Site, name: &str, v: &Value) {
    std::fs::write(site.path(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

#[test]
fn a_saved_plan_whose_figures_lie_is_refused_before_any_write() {
    let server = ScimServer::start();
    let site = committed_quickstart(&server, "  max_blocks: 2\n");
    let dir = site.path("");
    let r = roster(&dir, &["plan", "-o", "plan.json", "--allow-blocks", "5"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan = read_json(&site, "plan.json");
    assert_eq!(plan["summary"]["block"], 5);
    let before = server.settled_writes();

    // The case: the block count and the allowance both edited to 0.
    let mut lie = plan.clone();
    lie["summary"]["block"] = 0.into();
    lie["allowances"]["allow_blocks"] = 0.into();
    write_json(&site, "lie.json", &lie);
    let r = roster(&dir, &["apply", "lie.json"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("recorded figures do not match")
            && r.stderr
                .contains("summary.block says 0, but the changes give 5"),
        "{}",
        r.stderr
    );

    // Only the summary edited: refused as inconsistent all the same.
    let mut lie = plan.clone();
    lie["summary"]["create"] = 0.into();
    lie["summary"]["fields"] = 1.into();
    write_json(&site, "lie.json", &lie);
    let r = roster(&dir, &["apply", "lie.json"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("summary.create says 0, but the changes give 2")
            && r.stderr.contains("summary.fields says 1"),
        "every mismatch is listed: {}",
        r.stderr
    );

    // Licence figures that agree with each other but not with the changes.
    let mut lie = plan.clone();
    lie["licences"]["after"] = 0.into();
    write_json(&site, "lie.json", &lie);
    let r = roster(&dir, &["apply", "lie.json"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("licences.after says 0"), "{}", r.stderr);

    // Only the allowance edited: the figures are true, and the policy refuses them.
    let mut lie = plan.clone();
    lie["allowances"]["allow_blocks"] = 0.into();
    write_json(&site, "lie.json", &lie);
    let r = roster(&dir, &["apply", "lie.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("policy.max_blocks"), "{}", r.stderr);

    assert_eq!(server.settled_writes(), before, "nothing was written");
    assert!(!site.path("audit").exists(), "and nothing recorded");
    // The plan as saved applies.
    let r = roster(&dir, &["apply", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn the_policy_at_apply_counts_licences_from_what_is_read_not_from_the_file() {
    let server = ScimServer::start();
    // 27 active now, 25 after the plan: over a limit of 24.
    let site = committed_quickstart(&server, "  licences: 24\n");
    let dir = site.path("");
    let r = roster(&dir, &["plan", "--format", "json"]);
    assert_eq!(
        r.code, 4,
        "a refused plan is shown, not saved: {}",
        r.stderr
    );
    let mut lie: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(lie["licences"]["after"], 25);
    // Figures consistent with each other: 20 before, 18 after.
    lie["licences"]["before"] = 20.into();
    lie["licences"]["after"] = 18.into();
    write_json(&site, "lie.json", &lie);
    let before = server.settled_writes();
    let r = roster(&dir, &["apply", "lie.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("after the plan 25 accounts would be active"),
        "{}",
        r.stderr
    );
    assert_eq!(server.settled_writes(), before);
}

#[test]
fn plan_with_base_honours_allow_blocks() {
    let server = ScimServer::start();
    let site = committed_quickstart(&server, "  max_blocks: 2\n");
    let dir = site.path("");
    let r = roster(&dir, &["plan", "--base", "HEAD", "-o", "plan.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let r = roster(
        &dir,
        &[
            "plan",
            "--base",
            "HEAD",
            "--allow-blocks",
            "5",
            "-o",
            "plan.json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        read_json(&site, "plan.json")["allowances"]["allow_blocks"],
        5
    );
}
