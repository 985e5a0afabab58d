//! One workflow against four real SCIM servers (tests/support/interop.rs): scim2-server,
//! django-scim2, SCIMMY on Express 4 and SCIMMY on Express 5. A config repo in git, an LDIF
//! directory of more people than a server page holds, and the `roster` binary: plan, save,
//! apply, plan again (converged), a full read past one page, the snapshot, a stale edit between
//! plan and apply, an email changed in place, a revoke. Where a server cannot do something (no
//! ETags, no filter, no Bulk, no `attributes=` for the enterprise extension), the plan says how
//! Roster reads and writes it, and the test holds that line. SCIMMY on Express 5 as published
//! answers every page from the first: Roster refuses to plan from it.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use crate::support::git::{git, roster};
use crate::support::interop::{Kind, Server, PAGE, TOKEN};

const PEOPLE: usize = 25;
const STAFF: &str = "cn=staff,ou=groups,dc=example,dc=org";
const ADMINS: &str = "cn=admins,ou=groups,dc=example,dc=org";

/// What a server announces and allows, as the workflow expects it.
struct Profile {
    etag: bool,
    bulk: bool,
    filter: bool,
    /// The enterprise extension, so `department` is mapped.
    enterprise: bool,
    /// PATCH of `externalId`, so an unmanaged account is linked (django-scim2: 501).
    link: bool,
}

fn profile(kind: Kind) -> Profile {
    match kind {
        Kind::Scim2Server => Profile {
            etag: true,
            bulk: true,
            filter: true,
            enterprise: true,
            link: true,
        },
        Kind::Django => Profile {
            etag: false,
            bulk: false,
            filter: false,
            enterprise: false,
            link: false,
        },
        _ => Profile {
            etag: false,
            bulk: true,
            filter: true,
            enterprise: true,
            link: true,
        },
    }
}

fn uid(i: usize) -> String {
    format!("u{i:02}")
}

/// The directory: `PEOPLE` people in staff (u00 is grace, whom some servers hold already),
/// `admins` (u01, u02) nested in staff. `given` overrides a person's givenName, `mail` their mail,
/// `admins` the admins group's members.
fn ldif(given: &[(usize, &str)], mail: &[(usize, &str)], admins: &[usize]) -> String {
    let mut s = String::from("version: 1\n\n");
    for i in 0..PEOPLE {
        let u = uid(i);
        let g = given
            .iter()
            .find(|(j, _)| *j == i)
            .map_or(format!("Given{i}"), |(_, g)| g.to_string());
        let m = mail
            .iter()
            .find(|(j, _)| *j == i)
            .map_or(format!("{u}@example.org"), |(_, m)| m.to_string());
        s.push_str(&format!(
            "dn: uid={u},ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: {u}\ncn: {u}\n\
             sn: Family{i}\ngivenName: {g}\nmail: {m}\ndepartmentNumber: Dept{}\n\
             entryUUID: 00000000-0000-4000-8000-0000000000{i:02}\n\n",
            i % 3
        ));
    }
    s.push_str(&format!(
        "dn: {STAFF}\nobjectClass: groupOfNames\ncn: staff\n"
    ));
    for i in 0..PEOPLE {
        s.push_str(&format!(
            "member: uid={},ou=people,dc=example,dc=org\n",
            uid(i)
        ));
    }
    s.push_str(&format!(
        "member: {ADMINS}\n\ndn: {ADMINS}\nobjectClass: groupOfNames\ncn: admins\n"
    ));
    for i in admins {
        s.push_str(&format!(
            "member: uid={},ou=people,dc=example,dc=org\n",
            uid(*i)
        ));
    }
    s
}

fn config(server: &Server, p: &Profile) -> String {
    let department = if p.enterprise {
        "  department: departmentNumber\n"
    } else {
        ""
    };
    format!(
        "version: 1\n\
         directory:\n  ldif: directory.ldif\n  id_attribute: entryUUID\n  username_attribute: uid\n\
         \x20 disabled: {{ attribute: pwdAccountLockedTime, allow_empty: true }}\n\
         intranet:\n  scim:\n    url: {url}\n    token: {{ env: ROSTER_SCIM_TOKEN }}\n\
         syncing_groups:\n  - \"{STAFF}\"\n\
         field_mappings:\n  first_name: givenName\n  surname: sn\n  email: mail\n{department}\
         admin_roles:\n  sysadmin:\n    intranet_group: Sysadmins\n    members: {{ groups: [\"{ADMINS}\"] }}\n\
         policy:\n  max_vanished: 100%\n  min_sysadmins: 1\n",
        url = server.url()
    )
}

struct Site {
    repo: tempfile::TempDir,
    server: Server,
}

impl Site {
    fn new(kind: Kind) -> Site {
        let server = Server::start(kind);
        let p = profile(kind);
        server.create_group("Sysadmins");
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(
            repo.path().join(".gitignore"),
            "*.json\n!roster.state.json\n",
        )
        .unwrap();
        std::fs::write(repo.path().join("roster.yaml"), config(&server, &p)).unwrap();
        std::fs::write(repo.path().join("directory.ldif"), ldif(&[], &[], &[1, 2])).unwrap();
        let site = Site { repo, server };
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

    /// Run roster and expect `code`; its stdout and stderr together.
    fn expect(&self, code: i32, args: &[&str]) -> String {
        let (got, out, err) = self.roster(args);
        let said = format!("{out}{err}");
        assert_eq!(
            got,
            code,
            "{}: roster {args:?}:\n{said}\nserver log:\n{}",
            self.server.kind.name(),
            self.server.log()
        );
        said
    }

    fn directory(&self, text: &str, message: &str) {
        std::fs::write(self.dir().join("directory.ldif"), text).unwrap();
        self.git(&["commit", "-qam", message]);
    }
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{text}"))
}

/// The emails of a user as the server holds them.
fn emails(server: &Server, username: &str) -> Vec<Value> {
    server.user(username)["emails"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn workflow(kind: Kind) {
    let began = Instant::now();
    let site = Site::new(kind);
    let p = profile(kind);
    let server = &site.server;
    let name = kind.name();
    // grace (u00) has an account already, made by hand: untyped, primary email (RFC 7643 §2.4
    // makes `type` optional). Linked by username; her email is the directory's already.
    if p.link {
        server.create_user(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "u00",
            "name": {"givenName": "Given0", "familyName": "Family0"},
            "emails": [{"value": "u00@example.org", "primary": true}], "active": true
        }));
    }
    // (Counted, not read from the log: a server may log a request after answering it.)
    let seeded_posts = usize::from(p.link);

    // Plan, saved: how this server is read and written is in the plan.
    let text = site.expect(0, &["plan", "-o", "plan.json"]);
    let writes = line(&text, "Intranet writes: ");
    let requests = if p.bulk {
        "Bulk requests of up to 200 operations"
    } else {
        "one request per change (the service announces no Bulk)"
    };
    let version = if p.etag {
        "with If-Match (the ETag read)"
    } else {
        "without If-Match (the service announces no ETags: an edit made after apply's fresh read is not detected)"
    };
    assert_eq!(
        writes,
        format!("Intranet writes: {requests}, {version}"),
        "{name}"
    );
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(site.dir().join("plan.json")).unwrap())
            .unwrap();
    let created = if p.link { PEOPLE - 1 } else { PEOPLE };
    assert_eq!(plan["summary"]["create"], created, "{name}: {text}");
    assert_eq!(
        plan["summary"]["link"],
        usize::from(p.link),
        "{name}: {text}"
    );
    assert_eq!(plan["summary"]["grant"], 2, "{name}: {text}");
    // grace's untyped primary email reads as her email: linked, not updated.
    assert_eq!(plan["summary"]["update"], 0, "{name}: {text}");

    // Apply the saved plan: everything lands.
    let said = site.expect(0, &["apply", "plan.json"]);
    assert!(
        said.contains(&format!(
            "Apply: {} applied, 0 failed, 0 stale.",
            created + usize::from(p.link) + 2
        )),
        "{name}: {said}"
    );
    if p.bulk {
        assert!(
            server.logged("POST", "Bulk") >= 1,
            "{name}: creates in Bulk"
        );
        assert_eq!(server.logged("POST", "Users$"), seeded_posts, "{name}");
    } else {
        assert_eq!(server.logged("POST", "Bulk"), 0, "{name}");
        assert_eq!(
            server.logged("POST", "Users$"),
            seeded_posts + created,
            "{name}"
        );
    }
    if p.link {
        // Linked in place: still one email, the primary one.
        let e = emails(server, "u00");
        assert_eq!(e.len(), 1, "{name}: {e:?}");
        assert_eq!(e[0]["primary"], true, "{name}: {e:?}");
    }

    // Planned again: converged. Past one page (PEOPLE > PAGE), through the delta read where the
    // server filters, in full where it does not.
    const { assert!(PEOPLE > 2 * PAGE) };
    let text = site.expect(0, &["plan", "--detailed-exitcode"]);
    let read = line(&text, "Intranet read: ");
    if p.filter {
        assert!(
            read.starts_with("Intranet read: delta since ")
                && read.contains(&format!("of {PEOPLE} users changed")),
            "{name}: {read}"
        );
    } else {
        assert!(
            read.starts_with(&format!(
                "Intranet read: full ({PEOPLE} users; the server does not announce filter support); concurrency adaptive up to "
            )),
            "{name}: {read}"
        );
    }
    // SCIMMY answers `attributes=` naming the enterprise `department` with 400 once a User has
    // one: the read goes on with full resources, and the plan says so.
    let note = text.lines().find(|l| l.starts_with("Intranet note: "));
    if kind.scimmy() {
        let note = note.unwrap_or_else(|| panic!("{name}: no note in\n{text}"));
        assert!(
            note.starts_with("Intranet note: the service refused `attributes=` (HTTP 400")
                && note.ends_with("Roster read full resources instead"),
            "{name}: {note}"
        );
    } else {
        assert_eq!(note, None, "{name}");
    }
    let text = site.expect(0, &["plan", "--refresh", "full", "--detailed-exitcode"]);
    assert!(
        line(&text, "Intranet read: ").starts_with(&format!("Intranet read: full ({PEOPLE} users")),
        "{name}: {text}"
    );

    // The snapshot: every account and the group, read past one page.
    site.expect(0, &["snapshot", "intranet", "-o", "snap.json"]);
    let snap: Value =
        serde_json::from_str(&std::fs::read_to_string(site.dir().join("snap.json")).unwrap())
            .unwrap();
    assert_eq!(
        snap["users"]["Resources"].as_array().map(Vec::len),
        Some(PEOPLE),
        "{name}"
    );
    assert_eq!(
        snap["groups"]["Resources"][0]["members"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // A stale edit: a change planned and saved, then someone edits the intranet before apply.
    // apply reads again and refuses the plan (exit 5), nothing written; with ETags, an edit that
    // lands after that read would still be caught per write (If-Match → stale).
    site.directory(&ldif(&[(3, "Renamed")], &[], &[1, 2]), "u03's given name");
    site.expect(0, &["plan", "-o", "plan.json"]);
    server.replace("u05", "name.givenName", json!("Edited by hand"));
    let said = site.expect(5, &["apply", "plan.json"]);
    assert!(said.contains("the plan is stale"), "{name}: {said}");
    assert_eq!(server.user("u03")["name"]["givenName"], "Given3", "{name}");
    let said = site.expect(0, &["apply", "--auto-approve"]);
    assert!(
        said.contains("Apply: 2 applied, 0 failed, 0 stale."),
        "{name}: {said}"
    );
    assert_eq!(server.user("u03")["name"]["givenName"], "Renamed", "{name}");
    assert_eq!(server.user("u05")["name"]["givenName"], "Given5", "{name}");

    // An email changed in the directory is replaced in place: one entry, still primary.
    let who = if p.link { 0 } else { 4 };
    site.directory(
        &ldif(&[(3, "Renamed")], &[(who, "moved@example.org")], &[1, 2]),
        "a new email",
    );
    let said = site.expect(0, &["apply", "--auto-approve"]);
    assert!(
        said.contains("Apply: 1 applied, 0 failed, 0 stale."),
        "{name}: {said}"
    );
    let e = emails(server, &uid(who));
    assert_eq!(e.len(), 1, "{name}: {e:?}");
    assert_eq!(
        (&e[0]["value"], &e[0]["primary"]),
        (&json!("moved@example.org"), &json!(true)),
        "{name}"
    );

    // A revoke: u02 leaves admins. django-scim2 refuses the filtered member path (501): the
    // value-list form is sent instead.
    site.directory(
        &ldif(&[(3, "Renamed")], &[(who, "moved@example.org")], &[1]),
        "u02 is no admin",
    );
    let said = site.expect(0, &["apply", "--auto-approve"]);
    assert!(
        said.contains("Apply: 1 applied, 0 failed, 0 stale."),
        "{name}: {said}"
    );
    let group = &server.all("Groups")[0];
    let members: Vec<&str> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["value"].as_str())
        .collect();
    assert_eq!(
        members,
        [server.user("u01")["id"].as_str().unwrap()],
        "{name}"
    );
    if kind == Kind::Django {
        let log = server.log();
        let patches: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("\"PATCH /scim/v2/Groups/"))
            .collect();
        let statuses: Vec<&str> = patches
            .iter()
            .filter_map(|l| l.split("\" ").nth(1)?.split(' ').next())
            .collect();
        // The grants, then the removal refused by filtered path and done by value list.
        assert!(
            statuses.ends_with(&["501", "200"])
                && statuses[..statuses.len() - 2].iter().all(|s| *s == "200"),
            "{statuses:?}: {log}"
        );
    }

    site.expect(0, &["plan", "--detailed-exitcode"]);
    eprintln!(
        "interop {name}: started in {} ms; workflow {} ms",
        server.startup.as_millis(),
        began.elapsed().as_millis()
    );
}

#[test]
fn workflow_on_scim2_server() {
    workflow(Kind::Scim2Server);
}

#[test]
fn workflow_on_django_scim2() {
    workflow(Kind::Django);
}

#[test]
fn workflow_on_scimmy_express4() {
    workflow(Kind::ScimmyExpress4);
}

/// SCIMMY on Express 5 with the glue's `req.query` shim (scimmy-routers' paging then works).
#[test]
fn workflow_on_scimmy_express5_with_the_query_shim() {
    workflow(Kind::ScimmyExpress5Shim);
}

/// SCIMMY on Express 5 as published ignores `startIndex` and `count`: the apply of an empty
/// intranet works (one page), then the read of more than a page is refused as incomplete,
/// nothing planned, and no account was created twice.
#[test]
fn scimmy_on_express5_as_published_is_refused_as_an_incomplete_read() {
    let site = Site::new(Kind::ScimmyExpress5);
    site.expect(0, &["apply", "--auto-approve"]);
    let said = site.expect(1, &["plan"]);
    assert!(
        said.contains("roster::scim::paging") && said.contains("incomplete read"),
        "{said}"
    );
    let first = site.server.get(&format!("Users?startIndex=1&count={PAGE}"));
    assert_eq!(first["totalResults"], PEOPLE, "each account once: {first}");
    let second = site
        .server
        .get(&format!("Users?startIndex=11&count={PAGE}"));
    assert_eq!(
        second["startIndex"], 1,
        "the page asked for is not the one answered"
    );
}

/// A service that refuses `attributes=` (a proxy in front of scim2-server answering 400 to any
/// read carrying it): the plan is made from full resources, and says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_projection_is_read_in_full_and_the_plan_says_so() {
    let site = Site::new(Kind::Scim2Server);
    let proxy = crate::support::scim::refusing_proxy(site.server.port, "attributes=").await;
    let text = std::fs::read_to_string(site.dir().join("roster.yaml")).unwrap();
    std::fs::write(
        site.dir().join("roster.yaml"),
        text.replace(&site.server.url(), &proxy),
    )
    .unwrap();
    site.git(&["commit", "-qam", "through the proxy"]);
    let text = tokio::task::block_in_place(|| site.expect(0, &["plan"]));
    assert_eq!(
        line(&text, "Intranet note: "),
        "Intranet note: the service refused `attributes=` (HTTP 400: filter not supported here); Roster read full resources instead"
    );
    assert!(
        text.contains(&format!("Plan: {PEOPLE} to create")),
        "{text}"
    );
}

/// django-scim2 creates accounts without `title` and `phoneNumbers` (it does not support them):
/// the create's answer lacks them, so the apply says so (terminal and audit), counts them, does
/// not promise convergence, and does not record them as applied, so the next plan does not call
/// them edits in the intranet. It answers 501 to a PATCH of `title`: the next apply fails those
/// changes (exit 3) and does not promise that applying again converges; `apply --color` is
/// taken as `plan`'s.
#[test]
fn a_refused_change_is_not_promised_to_converge() {
    let site = Site::new(Kind::Django);
    let text = std::fs::read_to_string(site.dir().join("roster.yaml")).unwrap();
    std::fs::write(
        site.dir().join("roster.yaml"),
        text.replace(
            "  email: mail\n",
            "  email: mail\n  job_title: cn\n  phone: departmentNumber\n",
        ),
    )
    .unwrap();
    site.git(&["commit", "-qam", "job titles and phones"]);
    // Created without the title and phone django-scim2 does not keep: said so, not converged.
    let said = site.expect(3, &["apply", "--auto-approve", "--color", "always"]);
    assert!(
        said.contains("\u{1b}["),
        "the plan shown is coloured: {said}"
    );
    assert!(
        said.contains(&format!(
            "applied (2 fields not stored on {PEOPLE} accounts), 0 failed, 0 stale."
        )),
        "{said}"
    );
    assert!(
        said.contains(
            "created u01, but the service did not store job_title (title), phone (phoneNumbers)"
        ),
        "{said}"
    );
    assert!(!said.contains("a second apply converges"), "{said}");
    assert!(
        said.contains(&format!(
            "The service did not store 2 fields on {PEOPLE} accounts (listed above)"
        )),
        "{said}"
    );
    // The audit report this apply wrote, as the terminal names it.
    let report = |said: &str, ext: &str| {
        let csv = line(said, "Audit: ")["Audit: ".len()..]
            .split(" (commit")
            .next()
            .unwrap()
            .to_string();
        let path = site.dir().join(csv).with_extension(ext);
        std::fs::read_to_string(path).unwrap()
    };
    let csv = report(&said, "csv");
    assert!(
        csv.contains(
            "outcome: applied, but the service did not store job_title (title), phone (phoneNumbers)"
        ),
        "{csv}"
    );
    let md = report(&said, "md");
    assert!(
        md.contains("The service did not store 2 fields")
            && !md.contains("apply to converge")
            && !md.contains("a second apply converges"),
        "{md}"
    );
    // The next plan does not blame the intranet for what the service never stored.
    let plan = site.expect(0, &["plan", "--color", "never"]);
    assert!(
        plan.contains("job_title:  (none) → \"u01\"  (differs)")
            && plan.contains("phone:      (none) → \"Dept1\"  (differs)"),
        "{plan}"
    );
    assert!(!plan.contains("edited in the intranet"), "{plan}");
    let said = site.expect(3, &["apply", "--auto-approve", "--color", "never"]);
    assert!(
        said.contains(&format!("Apply: 0 applied, {PEOPLE} failed, 0 stale.")),
        "{said}"
    );
    assert!(!said.contains("a second apply converges"), "{said}");
    assert!(
        said.contains(&format!(
            "The service refused {PEOPLE} changes (listed above)"
        )),
        "{said}"
    );
    assert!(
        said.contains("failed (HTTP 501): PATCH ")
            && said.contains("failed with HTTP 501: Not Implemented"),
        "{said}"
    );
    assert!(!said.contains(": \n"), "no dangling colon: {said}");
    // The audit report says what the terminal says.
    let md = report(&said, "md");
    assert!(
        md.contains(&format!(
            "The service refused {PEOPLE} changes (listed above): applying again meets the same refusal"
        )) && !md.contains("apply to converge"),
        "{md}"
    );
}
