//! The GitOps workflow end to end, as a team runs it: a config repo (git, in a temp dir), a real
//! slapd and a real scim2-server, and the `roster` binary. Plan, apply a saved plan, the audit
//! commit, provenance after edits on each side, the impact of a config change against the live
//! systems, and apply refusing plans that are not what is checked out.

use std::path::Path;

use serde_json::Value;

use crate::support::git::{git, roster};
use crate::support::scim::{ScimServer, TOKEN};
use crate::support::slapd::{Slapd, BASE_DN, GROUPS, LIMITED_DN, LIMITED_PW, PEOPLE};

const STAFF: &str = "cn=staff,ou=groups,dc=example,dc=org";
const ADMINS: &str = "cn=admins,ou=groups,dc=example,dc=org";

fn person(uid: &str, title: &str) -> String {
    format!("dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\ngivenName: {uid}\nmail: {uid}@example.org\ntitle: {title}\n\n")
}

fn directory() -> String {
    let mut s: String = [
        ("ada", "Engineer"),
        ("bob", "Admin"),
        ("cy", "Analyst"),
        ("dee", "Analyst"),
    ]
    .iter()
    .map(|(u, t)| person(u, t))
    .collect();
    s.push_str(&format!(
        "dn: {STAFF}\nobjectClass: groupOfNames\ncn: staff\nmember: uid=ada,{PEOPLE}\nmember: cn=admins,{GROUPS}\nmember: cn=analysts,{GROUPS}\n\n\
         dn: {ADMINS}\nobjectClass: groupOfNames\ncn: admins\nmember: uid=bob,{PEOPLE}\n\n\
         dn: cn=analysts,{GROUPS}\nobjectClass: groupOfNames\ncn: analysts\nmember: uid=cy,{PEOPLE}\nmember: uid=dee,{PEOPLE}\n\n"
    ));
    s
}

struct Site {
    repo: tempfile::TempDir,
    slapd: Slapd,
    scim: ScimServer,
}

fn config(
    slapd: &Slapd,
    scim: &ScimServer,
    extra_groups: &str,
    job_title: &str,
    extra_admins: &str,
) -> String {
    format!(
        "version: 1\n\
         directory:\n  ldap:\n    url: {ldap}\n    bind_dn: \"{LIMITED_DN}\"\n    password: {{ file: bind.pw }}\n    base_dn: \"{BASE_DN}\"\n\
         intranet:\n  scim:\n    url: {scim}\n    token: {{ env: ROSTER_SCIM_TOKEN }}\n\
         syncing_groups:\n  - \"cn=staff,ou=groups,dc=example,dc=org\"\n{extra_groups}\
         field_mappings:\n  first_name: givenName\n  email: mail\n  job_title: {job_title}\n\
         admin_roles:\n  sysadmin:\n    intranet_group: Sysadmins\n    members:\n      groups: [\"{ADMINS}\"]\n      users: [{extra_admins}]\n\
         policy:\n  max_vanished: 100%\n",
        ldap = slapd.url,
        scim = scim.url(),
    )
}

impl Site {
    fn new() -> Site {
        let slapd = Slapd::start(&directory());
        let scim = ScimServer::start();
        scim.create_group("Sysadmins", &[]);
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("bind.pw"), LIMITED_PW).unwrap();
        std::fs::write(
            repo.path().join(".gitignore"),
            "bind.pw\n*.json\n!roster.state.json\n",
        )
        .unwrap();
        std::fs::write(
            repo.path().join("roster.yaml"),
            config(&slapd, &scim, "", "title", ""),
        )
        .unwrap();
        let site = Site { repo, slapd, scim };
        site.git(&["init", "-q", "-b", "main"]);
        site.git(&["add", "."]);
        site.git(&["commit", "-qm", "base"]);
        site
    }

    fn dir(&self) -> &Path {
        self.repo.path()
    }

    fn git(&self, args: &[&str]) -> String {
        git(self.dir(), args)
    }

    fn roster(&self, args: &[&str]) -> (i32, String, String) {
        roster(self.dir(), TOKEN, args)
    }

    fn plan_json(&self) -> Value {
        let (code, out, err) = self.roster(&["plan", "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }

    /// `plan -o plan.json` then `apply plan.json`: both must succeed.
    fn plan_and_apply(&self) -> String {
        let (code, _, err) = self.roster(&["plan", "-o", "plan.json"]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = self.roster(&["apply", "plan.json"]);
        assert_eq!(code, 0, "{err}");
        err
    }

    fn commit_config(&self, text: &str, message: &str) {
        std::fs::write(self.dir().join("roster.yaml"), text).unwrap();
        self.git(&["commit", "-qam", message]);
    }
}

fn origins(plan: &Value, username: &str) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "update" && c["username"] == username)
        .flat_map(|c| c["fields"].as_array().unwrap().clone())
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["origin"].as_str().unwrap_or("none").to_owned(),
            )
        })
        .collect()
}

#[test]
fn apply_commits_the_audit_then_provenance_tells_intranet_edits_from_directory_changes() {
    let site = Site::new();
    // First run: every account is created, bob is granted sysadmin.
    let first = site.plan_json();
    assert_eq!(
        (
            first["summary"]["create"].as_u64(),
            first["summary"]["grant"].as_u64()
        ),
        (Some(4), Some(1))
    );
    let said = site.plan_and_apply();
    assert!(
        said.contains("Apply: 5 applied, 0 failed, 0 stale."),
        "{said}"
    );
    // What the writes took, with the concurrency: on the terminal and in the audit report.
    assert!(
        said.contains("Writes: ") && said.contains(", concurrency adaptive up to 32 (settled at "),
        "{said}"
    );

    // The audit commit holds the report and the state file, and nothing else.
    let files = site.git(&["show", "--name-only", "--format=%s%n%b", "HEAD"]);
    let names: Vec<&str> = files
        .lines()
        .filter(|l| l.starts_with("audit/") || l.ends_with(".json"))
        .collect();
    assert_eq!(names.len(), 3, "{files}");
    assert!(
        names.iter().any(|n| n.ends_with(".csv"))
            && names.iter().any(|n| n.ends_with(".md"))
            && names.contains(&"roster.state.json"),
        "{files}"
    );
    assert!(files.contains("Plan-Digest: "), "{files}");
    let report = names.iter().find(|n| n.ends_with(".md")).unwrap();
    let report = site.git(&["show", &format!("HEAD:{report}")]);
    assert!(
        report.contains("\n- Writes: ") && report.contains("concurrency adaptive up to 32"),
        "{report}"
    );
    assert!(
        site.git(&["status", "--porcelain"]).trim().is_empty(),
        "the work tree is clean after apply"
    );

    // Converged.
    let (code, out, err) = site.roster(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");

    // An edit in the intranet, and a change in the directory.
    site.scim
        .replace_attribute("ada", "title", "Chief Everything");
    site.slapd.modify(&format!(
        "dn: uid=cy,{PEOPLE}\nchangetype: modify\nreplace: title\ntitle: Senior Analyst\n"
    ));
    let plan = site.plan_json();
    assert_eq!(
        origins(&plan, "ada"),
        [("job_title".to_owned(), "intranet".to_owned())]
    );
    assert_eq!(
        origins(&plan, "cy"),
        [("job_title".to_owned(), "directory".to_owned())]
    );
    assert_eq!(
        (
            plan["summary"]["overrides"].as_u64(),
            plan["summary"]["directory_changes"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let (_, text, _) = site.roster(&["plan"]);
    assert!(
        text.contains("(edited in the intranet)") && text.contains("(changed in the directory)"),
        "{text}"
    );

    // Applying converges again; the state file now holds the new values.
    site.plan_and_apply();
    let state = std::fs::read_to_string(site.dir().join("roster.state.json")).unwrap();
    assert!(
        state.contains("Senior Analyst") && !state.contains("Chief Everything"),
        "{state}"
    );
    assert!(state.contains("\"mappings\""), "{state}");

    // The config edits job_title's mapping: every account's new title is the config's doing,
    // told apart from a directory change (dee) and an intranet edit (cy) in the same plan.
    site.commit_config(
        &config(&site.slapd, &site.scim, "", "\"{title} ({uid})\"", ""),
        "job_title: a template",
    );
    site.slapd.modify(&format!(
        "dn: uid=dee,{PEOPLE}\nchangetype: modify\nreplace: givenName\ngivenName: Deirdre\n"
    ));
    site.scim.replace_attribute("cy", "title", "Chief Analyst");
    let plan = site.plan_json();
    assert_eq!(
        origins(&plan, "ada"),
        [("job_title".to_owned(), "config".to_owned())]
    );
    assert_eq!(
        origins(&plan, "dee"),
        [
            ("first_name".to_owned(), "directory".to_owned()),
            ("job_title".to_owned(), "config".to_owned())
        ]
    );
    assert_eq!(
        origins(&plan, "cy"),
        [("job_title".to_owned(), "both".to_owned())]
    );
    assert_eq!(plan["summary"]["config_changes"].as_u64(), Some(3));
    let (_, text, _) = site.roster(&["plan"]);
    assert!(
        text.contains("(config changed)") && text.contains("(changed in the directory)"),
        "{text}"
    );
    let (_, md, _) = site.roster(&["plan", "--format", "markdown"]);
    assert!(md.contains("| `Engineer (ada)` | config changed |"), "{md}");
}

#[test]
fn impact_of_a_config_change_against_the_live_systems() {
    let site = Site::new();
    site.plan_and_apply();
    let head = config(&site.slapd, &site.scim, "", "cn", "cy");
    // Head: analysts leave (the group is dropped from staff by not syncing it… here by
    // replacing staff with admins), job_title maps to cn, and cy gets sysadmin.
    let head = head.replace("  - \"cn=staff,ou=groups,dc=example,dc=org\"\n", "  - \"cn=admins,ou=groups,dc=example,dc=org\"\n  - \"cn=analysts,ou=groups,dc=example,dc=org\"\n");
    site.commit_config(&head, "head");
    let (code, out, err) = site.roster(&["plan", "--base", "HEAD~2", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let impact: Value = serde_json::from_str(&out).unwrap();
    let effects: Vec<&str> = impact["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(
        effects.contains(&"blocks 1 account"),
        "ada is no longer synced: {effects:?}"
    );
    assert!(
        effects.contains(&"rewrites job_title for 3 accounts"),
        "{effects:?}"
    );
    assert!(
        effects.contains(&"grants sysadmin to 1 account"),
        "{effects:?}"
    );
    assert!(impact["config_changes"]
        .to_string()
        .contains("maps job_title to `cn` (was `title`)"));
}

#[test]
fn apply_refuses_a_plan_from_another_commit_or_a_dirty_config() {
    let site = Site::new();
    let (code, _, err) = site.roster(&["plan", "-o", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    // Another commit lands after the plan was made.
    let text = std::fs::read_to_string(site.dir().join("roster.yaml")).unwrap();
    site.commit_config(&(text.clone() + "# reviewed\n"), "another change");
    let (code, _, err) = site.roster(&["apply", "plan.json"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("was made from config commit"), "{err}");
    assert!(site.scim.all_users().is_empty(), "nothing was written");

    // A plan made from uncommitted edits.
    std::fs::write(site.dir().join("roster.yaml"), text + "# not committed\n").unwrap();
    let (code, _, err) = site.roster(&["plan", "-o", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = site.roster(&["apply", "plan.json"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("uncommitted edits"), "{err}");
    assert!(site.scim.all_users().is_empty(), "nothing was written");

    // Without a plan and without a terminal, apply needs --auto-approve.
    site.git(&["checkout", "--", "roster.yaml"]);
    let (code, _, err) = site.roster(&["apply"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--auto-approve"), "{err}");
    let (code, _, err) = site.roster(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(site.scim.all_users().len(), 4);
}

#[test]
fn policy_refusals_reach_the_exit_code_with_live_systems() {
    let site = Site::new();
    site.plan_and_apply();
    // Everyone but bob leaves the syncing groups: 3 blocks, over max_blocks 1.
    let text = std::fs::read_to_string(site.dir().join("roster.yaml")).unwrap();
    let text = text
        .replace(
            "\"cn=staff,ou=groups,dc=example,dc=org\"",
            "\"cn=admins,ou=groups,dc=example,dc=org\"",
        )
        .replace(
            "  max_vanished: 100%\n",
            "  max_vanished: 100%\n  max_blocks: 1\n  min_sysadmins: 1\n",
        );
    site.commit_config(&text, "shrink");
    let (code, out, err) = site.roster(&["plan", "-o", "plan.json"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains("policy.max_blocks") && err.contains("--allow-blocks 3"),
        "{err}"
    );
    // The plan saved before the change is stale now: it cannot be applied either.
    assert_eq!(site.roster(&["apply", "plan.json"]).0, 5);
    let (code, _, err) = site.roster(&["plan", "-o", "plan.json", "--allow-blocks", "3"]);
    assert_eq!(code, 0, "{err}");
    // A saved plan stripped of its allowance is refused at apply time too, before any write.
    let saved = std::fs::read_to_string(site.dir().join("plan.json")).unwrap();
    let mut stripped: Value = serde_json::from_str(&saved).unwrap();
    stripped["allowances"]["allow_blocks"] = Value::Null;
    std::fs::write(
        site.dir().join("stripped.json"),
        serde_json::to_string(&stripped).unwrap(),
    )
    .unwrap();
    let (code, _, err) = site.roster(&["apply", "stripped.json"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("policy.max_blocks"), "{err}");
    assert!(
        site.scim.all_users().iter().all(|u| u["active"] == true),
        "a refused apply writes nothing"
    );
    let (code, _, err) = site.roster(&["apply", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    let blocked = site
        .scim
        .all_users()
        .iter()
        .filter(|u| u["active"] == false)
        .count();
    assert_eq!(blocked, 3, "blocked, never deleted");
    assert_eq!(site.scim.all_users().len(), 4);
}

#[test]
fn export_from_the_live_systems_plans_with_no_role_changes() {
    let site = Site::new();
    site.plan_and_apply();
    // Someone grants cy sysadmin by hand in the intranet: export takes today's holders.
    let cy = site.scim.user_by_name("cy").unwrap();
    let sysadmins = site.scim.curl_get("Groups")["Resources"][0].clone();
    let mut members: Vec<Value> = sysadmins["members"].as_array().cloned().unwrap_or_default();
    members.push(serde_json::json!({ "value": cy["id"] }));
    let (status, _) = site.scim.curl_send("PUT", &format!("Groups/{}", sysadmins["id"].as_str().unwrap()), &serde_json::json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sysadmins", "members": members }));
    assert_eq!(status, 200);

    let (code, _, err) = site.roster(&["export", "-o", "exported.yaml"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = site.roster(&["plan", "--config", "exported.yaml", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            plan["summary"]["grant"].as_u64(),
            plan["summary"]["revoke"].as_u64()
        ),
        (Some(0), Some(0)),
        "{out}"
    );
    let yaml = std::fs::read_to_string(site.dir().join("exported.yaml")).unwrap();
    assert!(yaml.contains("users: [\"bob\", \"cy\"]"), "{yaml}");
}
