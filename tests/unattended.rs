//! `roster apply --unattended` (a scheduled sync) through the binary against a real
//! scim2-server: a plan that fits `policy.unattended` is applied and the audit says no one
//! watched; one that does not is applied not at all (exit 4), kept for approval with every
//! reason listed, and the approved plan then applies.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::{flat, roster};
use crate::scim::{quickstart_body, seed_quickstart, Site, QUICKSTART};
use crate::support::scim::ScimServer;

/// The quickstart against a live server, its directory a copy in the site (so a test can hire
/// people), `policy` lines added, the config committed.
fn site(server: &ScimServer, policy: &str) -> Site {
    seed_quickstart(server);
    let body = quickstart_body().replace(
        "  protected: [breakglass]",
        &format!("  protected: [breakglass]\n{policy}"),
    );
    let site = Site::new(server, Path::new("directory.ldif"), &body);
    std::fs::copy(
        format!("{QUICKSTART}/directory.ldif"),
        site.path("directory.ldif"),
    )
    .unwrap();
    site.git(&["add", "roster.yaml"]);
    site.git(&["commit", "-qm", "config"]);
    site
}

/// A new hire in the sales team (a member of a syncing group), as the directory would have them
/// the next morning.
fn hire(site: &Site, uid: &str) {
    let path = site.path("directory.ldif");
    let ldif = std::fs::read_to_string(&path).unwrap();
    let entry = format!(
        "dn: uid={uid},ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: New Hire\ngivenName: New\nsn: Hire\nmail: {uid}@example.com\ntitle: Account Executive\ndepartmentNumber: Sales\nentryUUID: 6d1c4a5e-0c8e-4f7a-9d55-{:012x}\n\n",
        uid.len()
    );
    let ldif = ldif
        .replacen(
            "dn: cn=intranet-users,",
            &format!("{entry}dn: cn=intranet-users,"),
            1,
        )
        .replacen(
            "cn: sales\n",
            &format!("cn: sales\nmember: uid={uid},ou=people,dc=example,dc=com\n"),
            1,
        );
    std::fs::write(path, ldif).unwrap();
}

fn read_plan(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The audit CSVs the site holds.
fn audit_csvs(site: &Site) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(site.path("audit")) else {
        return Vec::new();
    };
    let mut csvs: Vec<PathBuf> = dir
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    csvs.sort();
    csvs
}

#[test]
fn ops_a_plan_over_the_unattended_policy_writes_nothing_and_is_saved_for_approval() {
    let server = ScimServer::start();
    let site = site(&server, "  unattended:\n    block: 2\n");
    let dir = site.path("");
    let before = server.settled_writes();
    let r = roster(&dir, &["apply", "--unattended", "--out", "pending.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let stderr = flat(&r.stderr);
    // Every reason, with its figures; the kinds that fit (2 creates, 6 updates, 1
    // reactivation) are not named.
    for reason in [
        "1 link; policy.unattended.link is false: never applied unattended",
        "1 rename; policy.unattended.rename is false",
        "5 blocks; policy.unattended.block allows up to 2",
        "2 role grants; policy.unattended.grant is false",
        "2 role revokes; policy.unattended.revoke is false",
    ] {
        assert!(stderr.contains(reason), "{reason}: {}", r.stderr);
    }
    assert!(
        !stderr.contains("accounts to create") && !stderr.contains("reactivation"),
        "{}",
        r.stderr
    );
    assert!(
        stderr.contains("this unattended run applied nothing")
            && stderr.contains("the plan is saved in pending.json")
            && stderr.contains("`roster apply pending.json`"),
        "{}",
        r.stderr
    );
    // The plan was shown, nothing written, nothing recorded.
    assert!(r.stdout.contains("block derek.stone"), "{}", r.stdout);
    assert_eq!(server.settled_writes(), before, "no SCIM write");
    assert!(!site.path("audit").exists(), "no audit report");
    let pending = read_plan(&site.path("pending.json"));
    assert_eq!(pending["summary"]["block"], 5);
    assert_eq!(pending["summary"]["revoke"], 2);

    // Who approved is one line of text, and an approved run is not unattended.
    for (bad, why) in [
        (&["--approved-by", " "][..], "an empty name"),
        (&["--approved-by", "octo\x1b[2J"][..], "control characters"),
        (
            &["--approved-by", "octo", "--unattended"][..],
            "cannot be used with",
        ),
    ] {
        let mut args = vec!["apply"];
        args.extend(bad);
        args.push("pending.json");
        let r = roster(&dir, &args);
        assert_eq!(r.code, 1, "{bad:?}: {}", r.stderr);
        assert!(flat(&r.stderr).contains(why), "{bad:?}: {}", r.stderr);
    }
    // A fresh plan was seen by no one: there is no approver to name.
    let r = roster(&dir, &["apply", "--approved-by", "octo", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(flat(&r.stderr).contains("<PLAN>"), "{}", r.stderr);
    assert_eq!(server.settled_writes(), before, "no SCIM write");
    // A person approves: the saved plan applies exactly, and is recorded as approved by them,
    // not as unattended.
    let r = roster(
        &dir,
        &["apply", "--approved-by", "octo, hubot", "pending.json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = site.git(&["log", "-1", "--format=%B"]);
    assert!(!log.contains("unattended"), "{log}");
    assert!(log.contains("- Approved by: octo, hubot\n"), "{log}");
    let csv = std::fs::read_to_string(&audit_csvs(&site)[0]).unwrap();
    assert!(!csv.contains("run: unattended"), "{csv}");
    assert!(
        csv.lines()
            .skip(1)
            .all(|row| row.contains("; approved by: octo, hubot")),
        "{csv}"
    );
}

#[test]
fn ops_the_next_mornings_joiner_is_applied_unattended_and_the_audit_says_so() {
    let server = ScimServer::start();
    let site = site(&server, "");
    let dir = site.path("");
    // Day one: the reviewed plan, approved.
    let r = roster(&dir, &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = roster(&dir, &["apply", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Day two: a new hire, and a scheduled run with no one watching.
    hire(&site, "nadia.newhire");
    let r = roster(&dir, &["apply", "--unattended"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("create nadia.newhire"), "{}", r.stdout);
    let user = server
        .user_by_name("nadia.newhire")
        .expect("the account was created");
    assert_eq!(user["active"], true);
    assert!(
        !site.path(".roster/pending-plan.json").exists(),
        "nothing saved for approval"
    );
    // The audit records that the run was unattended: each CSV row and the summary (and so
    // the commit message).
    let csvs = audit_csvs(&site);
    assert_eq!(csvs.len(), 2, "{csvs:?}");
    let csvs: Vec<String> = csvs
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let row = csvs
        .iter()
        .flat_map(|csv| csv.lines())
        .find(|l| l.contains("nadia.newhire"))
        .expect("a row for the create");
    // Day one's rows were approved by a person: not marked.
    assert!(
        csvs.iter()
            .filter(|csv| csv.contains("derek.stone"))
            .all(|csv| !csv.contains("run: unattended")),
        "{csvs:?}"
    );
    assert!(
        row.contains("create") && row.contains("run: unattended (fit policy.unattended)"),
        "{row}"
    );
    let log = site.git(&["log", "-1", "--format=%B"]);
    assert!(
        log.contains("- Run: unattended (`roster apply --unattended`)"),
        "{log}"
    );
    // Planning again: nothing left.
    let r = roster(&dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn ops_without_out_the_plan_waits_in_the_data_folder_which_git_ignores() {
    let server = ScimServer::start();
    let site = site(&server, "");
    let dir = site.path("");
    let r = roster(&dir, &["apply", "--unattended"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let pending = site.path(".roster/pending-plan.json");
    assert!(
        flat(&r.stderr).contains("the plan is saved in .roster/pending-plan.json"),
        "{}",
        r.stderr
    );
    assert_eq!(read_plan(&pending)["summary"]["grant"], 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pending).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a plan holds profile data");
    }
    assert!(
        site.git(&["status", "--porcelain", "--untracked-files=all"])
            .lines()
            .all(|l| !l.contains(".roster")),
        "git ignores it"
    );
    // It is a plan like any other: a person applies it.
    let r = roster(&dir, &["apply", ".roster/pending-plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The plan waiting in `.roster/pending-plan.json` goes once it is applied (saying so on stderr),
/// or once any apply converges the same config; an apply that fails keeps it.
#[test]
fn ops_the_pending_plan_goes_once_applied_and_stays_when_the_apply_fails() {
    // A site whose unattended run kept its plan for approval, and that plan's path.
    let waiting = |server: &ScimServer| {
        let site = site(server, "");
        let r = roster(&site.path(""), &["apply", "--unattended"]);
        assert_eq!(r.code, 4, "{}", r.stderr);
        let pending = site.path(".roster/pending-plan.json");
        assert!(pending.exists());
        (site, pending)
    };
    let server = ScimServer::start();
    let (first, pending) = waiting(&server);
    let dir = first.path("");
    // Refused (a config with uncommitted changes): nothing applied, the plan still waits.
    let config = std::fs::read_to_string(first.path("roster.yaml")).unwrap();
    std::fs::write(first.path("roster.yaml"), format!("{config}# edited\n")).unwrap();
    let r = roster(&dir, &["apply", ".roster/pending-plan.json"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(pending.exists(), "a failed apply keeps the pending plan");
    assert!(
        !r.stderr.contains("pending-plan.json (the plan"),
        "{}",
        r.stderr
    );
    std::fs::write(first.path("roster.yaml"), &config).unwrap();
    // Applied: it goes, in one line.
    let r = roster(&dir, &["apply", ".roster/pending-plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!pending.exists(), "{}", r.stderr);
    let said: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("pending-plan.json"))
        .collect();
    assert_eq!(
        said,
        ["Removed .roster/pending-plan.json (the plan waiting for approval): this config is applied."],
        "{}",
        r.stderr
    );

    // Another apply that converges the same config (a person's, with --auto-approve) removes it too.
    let server = ScimServer::start();
    let (second, pending) = waiting(&server);
    let r = roster(&second.path(""), &["apply", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!pending.exists(), "{}", r.stderr);
    assert!(
        r.stderr.contains("Removed .roster/pending-plan.json"),
        "{}",
        r.stderr
    );
}

#[test]
fn ops_a_saved_plan_applied_unattended_is_kept_as_it_is_when_it_needs_approval() {
    let server = ScimServer::start();
    let site = site(&server, "");
    let dir = site.path("");
    let r = roster(&dir, &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let saved = std::fs::read(site.path("plan.json")).unwrap();
    let before = server.settled_writes();
    let r = roster(&dir, &["apply", "--unattended", "plan.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let stderr = flat(&r.stderr);
    assert!(
        stderr.contains("2 role revokes; policy.unattended.revoke is false")
            && stderr.contains("the plan is kept in plan.json")
            && stderr.contains("`roster apply plan.json`"),
        "{}",
        r.stderr
    );
    assert_eq!(server.settled_writes(), before, "no SCIM write");
    assert_eq!(std::fs::read(site.path("plan.json")).unwrap(), saved);
    // `--out` is for a fresh plan; `--auto-approve` is another way of running.
    let r = roster(
        &dir,
        &["apply", "--unattended", "--out", "x.json", "plan.json"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = roster(&dir, &["apply", "--unattended", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = roster(&dir, &["apply", "--out", "x.json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!site.path("x.json").exists());
}

#[test]
fn ops_an_unattended_policy_that_allows_everything_applies_the_whole_plan() {
    let server = ScimServer::start();
    let site = site(
        &server,
        "  unattended: { link: true, rename: \"10%\", block: true, grant: 2, revoke: \"100%\" }\n",
    );
    let dir = site.path("");
    let r = roster(&dir, &["apply", "--unattended"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Apply: "), "{}", r.stderr);
    let r = roster(&dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "converged: {}", r.stdout);
}

#[test]
fn ops_the_safety_policy_still_refuses_an_unattended_run_and_nothing_is_saved() {
    let server = ScimServer::start();
    let site = site(&server, "  max_blocks: 2\n  unattended: { block: true }\n");
    let dir = site.path("");
    let r = roster(&dir, &["apply", "--unattended", "--out", "pending.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        flat(&r.stderr).contains("over policy.max_blocks (2)"),
        "{}",
        r.stderr
    );
    assert!(
        !site.path("pending.json").exists(),
        "a refused plan is never saved, not even for approval"
    );
}
