//! A CSV directory (an HR export) as a user runs it: the bundled examples, encodings (BOM,
//! Windows-1252), detected delimiters, quoted line breaks, disabled values, groups from a column
//! or a second file, a rename, every bad-input diagnostic at file:line:column, the snapshot and
//! export commands, and a real apply against scim2-server.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::{flat, roster, Run};
use crate::support::scim::{ScimServer, TOKEN};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const EMPTY_INTRANET: &str = r#"{"users":{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]},"groups":{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}}"#;

/// A folder with `people.csv` (as bytes), an empty intranet snapshot and a config whose
/// `directory.csv` holds `csv` (YAML flow-map body) and whose mappings read First, Last, Mail.
fn site(people: &[u8], csv: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("people.csv"), people).unwrap();
    std::fs::write(dir.path().join("intranet.json"), EMPTY_INTRANET).unwrap();
    write_config(dir.path(), csv, "Staff");
    dir
}

fn write_config(dir: &Path, csv: &str, syncing: &str) {
    std::fs::write(
        dir.join("roster.yaml"),
        format!(
            "version: 1\n\
             directory:\n  csv: {{ file: people.csv, {csv} }}\n  id_attribute: EmployeeID\n  username_attribute: Login\n  disabled: {{ attribute: Status, values: [terminated, leave] }}\n\
             intranet:\n  snapshot: intranet.json\n\
             syncing_groups: [{syncing}]\n\
             field_mappings:\n  first_name: First\n  surname: Last\n  display_name: \"{{First}} {{Last}}\"\n  email: Mail\n\
             policy: {{ max_vanished: 100% }}\n"
        ),
    )
    .unwrap();
}

const COLUMN: &str = r#"groups: { column: Groups, separator: "|" }"#;

fn plan(dir: &Path) -> Value {
    let r = roster(dir, &["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

/// `action username field=value ...` for each change, sorted.
fn changes(plan: &Value) -> Vec<String> {
    let mut out: Vec<String> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut s = format!(
                "{} {}",
                c["action"].as_str().unwrap_or(""),
                c["username"].as_str().unwrap_or("")
            );
            for f in c["fields"].as_array().into_iter().flatten() {
                s.push_str(&format!(" {}={}", f["name"].as_str().unwrap(), f["after"]));
            }
            s
        })
        .collect();
    out.sort();
    out
}

fn fails(dir: &Path) -> Run {
    let r = roster(dir, &["plan"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    r
}

#[test]
fn the_csv_example_plans_a_rename_creates_and_blocks_for_disabled_values() {
    let r = roster(&root(), &["plan", "--config", "examples/csv/roster.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("csv_example_plan", r.stdout);
    // Same ID E1004, new username: a rename, not a block and a create.
    assert!(
        r.stdout.contains("rename dan.developer → dan.dev"),
        "{}",
        r.stdout
    );
    // `leave` and `terminated` are the values that mean disabled.
    assert!(r
        .stdout
        .contains("⊘ block erin.eng  # disabled in the directory"));
    assert!(r
        .stdout
        .contains("⊘ block frank.fin  # disabled in the directory"));
    // A quoted field holding a line break is one value.
    assert!(r.stdout.contains(r#""Head of People\n(interim)""#));
}

#[test]
fn the_groups_file_example_reads_windows_1252_with_semicolons() {
    let r = roster(
        &root(),
        &["plan", "--config", "examples/csv-groups-file/roster.yaml"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(r#"display_name:  "José García""#),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(r#"surname:       "Müller""#),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("+ grant sysadmin to kai.schmidt"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("⊘ block lena.vogel"), "{}", r.stdout);
}

#[test]
fn a_utf8_bom_is_skipped_and_wins_over_a_declared_encoding() {
    let dir = site(
        "\u{feff}EmployeeID,Login,First,Last,Mail,Status,Groups\n1,ada,Zoë,L,ada@x.org,active,Staff\n".as_bytes(),
        COLUMN,
    );
    let expected =
        [r#"create ada display_name="Zoë L" email="ada@x.org" first_name="Zoë" surname="L""#];
    assert_eq!(changes(&plan(dir.path())), expected);
    // Declared Windows-1252, the BOM still says UTF-8: not "ZoÃ«".
    write_config(
        dir.path(),
        &format!("encoding: windows-1252, {COLUMN}"),
        "Staff",
    );
    assert_eq!(changes(&plan(dir.path())), expected);
}

#[test]
fn windows_1252_is_decoded_when_declared_and_refused_as_utf8_with_its_line() {
    let people = b"EmployeeID,Login,First,Last,Mail,Status,Groups\n1,ada,Ada,L,ada@x.org,,Staff\n2,renee,Ren\xE9e,M,r@x.org,,Staff\n";
    let dir = site(people, &format!("encoding: windows-1252, {COLUMN}"));
    let c = changes(&plan(dir.path()));
    assert!(
        c.iter().any(|c| c.contains(r#"first_name="Renée""#)),
        "{c:?}"
    );
    // latin-1 reads the same bytes.
    write_config(dir.path(), &format!("encoding: latin-1, {COLUMN}"), "Staff");
    assert_eq!(changes(&plan(dir.path())), c);

    write_config(dir.path(), COLUMN, "Staff");
    let r = fails(dir.path());
    let err = flat(&r.stderr);
    assert!(
        err.contains("people.csv:3:3: byte 0xE9 in field 3 (column `First`) is not UTF-8"),
        "{err}"
    );
    assert!(err.contains("roster::csv::not_utf8"), "{err}");
    assert!(err.contains("`encoding: windows-1252`"), "{err}");
}

#[test]
fn semicolon_and_tab_are_detected_from_the_header_line() {
    for (d, people) in [
        (";", "EmployeeID;Login;First;Last;Mail;Status;Groups\n1;ada;Ada;\"L, jr\";ada@x.org;;Staff\n"),
        ("\t", "EmployeeID\tLogin\tFirst\tLast\tMail\tStatus\tGroups\n1\tada\tAda\tL, jr\tada@x.org\t\tStaff\n"),
    ] {
        let dir = site(people.as_bytes(), COLUMN);
        assert_eq!(
            changes(&plan(dir.path())),
            [r#"create ada display_name="Ada L, jr" email="ada@x.org" first_name="Ada" surname="L, jr""#],
            "delimiter {d:?}"
        );
    }
    // Declared, it wins over detection: a `;` file read with `,` has one column.
    let dir = site(
        b"EmployeeID;Login;First;Last;Mail;Status;Groups\n1;ada;Ada;L;ada@x.org;;Staff\n",
        &format!(r#"delimiter: ",", {COLUMN}"#),
    );
    let err = flat(&fails(dir.path()).stderr);
    assert!(
        err.contains("people.csv:1: the header line is one column"),
        "{err}"
    );
}

#[test]
fn quoted_line_breaks_keep_the_line_numbers_an_editor_shows() {
    let dir = site(
        b"EmployeeID,Login,First,Last,Mail,Status,Groups\n1,ada,\"Ada\nAugusta\",L,ada@x.org,,Staff\n1,bob,Bob,B,bob@x.org,,Staff\n",
        COLUMN,
    );
    let err = flat(&fails(dir.path()).stderr);
    // Row 2 spans lines 2-3; the duplicate is on line 4.
    assert!(
        err.contains("people.csv:4:1: the ID `1` (column `EmployeeID`) is also on line 2"),
        "{err}"
    );
}

#[test]
fn disabled_values_are_compared_without_case_and_disabled_users_get_no_account() {
    let dir = site(
        b"EmployeeID,Login,First,Last,Mail,Status,Groups\n1,ada,Ada,L,a@x.org,Active,Staff\n2,bob,Bob,B,b@x.org,TERMINATED,Staff\n3,cy,Cy,C,c@x.org, Leave ,Staff\n",
        COLUMN,
    );
    let c = changes(&plan(dir.path()));
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(c[0].starts_with("create ada "), "{c:?}");
}

#[test]
fn groups_come_from_a_column_or_a_second_file_named_case_insensitively() {
    let people = b"EmployeeID,Login,First,Last,Mail,Status,Teams\nE1,ada,Ada,L,a@x.org,, staff | Admins \nE2,bob,Bob,B,b@x.org,,Sales\n";
    let dir = site(people, r#"groups: { column: teams, separator: "|" }"#);
    let c = changes(&plan(dir.path()));
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(c[0].starts_with("create ada "), "{c:?}");

    std::fs::write(
        dir.path().join("groups.csv"),
        "Group,Member\nStaff,E2\nstaff,e1\nOther,E9\n",
    )
    .unwrap();
    write_config(
        dir.path(),
        "groups: { file: groups.csv, group_column: group, member_column: member }",
        "STAFF",
    );
    let plan = plan(dir.path());
    let c = changes(&plan);
    assert_eq!(c.len(), 2, "{c:?}");
    // A member ID that names no user is said once, not silently dropped.
    let warnings = plan["warnings"].to_string();
    assert!(
        warnings.contains("groups.csv: 1 membership row names a member ID no user of people.csv has (the first: `E9` on line 4)"),
        "{warnings}"
    );
}

#[test]
fn an_unknown_syncing_group_suggests_the_closest_csv_group_name() {
    let dir = site(
        b"EmployeeID,Login,First,Last,Mail,Status,Groups\n1,ada,Ada,L,a@x.org,,Staff\n",
        COLUMN,
    );
    write_config(dir.path(), COLUMN, "Staf");
    let err = flat(&fails(dir.path()).stderr);
    assert!(
        err.contains("syncing group `Staf` is not in the directory"),
        "{err}"
    );
    assert!(err.contains("did you mean `Staff`?"), "{err}");
    // A user's ID is not a group.
    write_config(dir.path(), COLUMN, "\"1\"");
    let err = flat(&fails(dir.path()).stderr);
    assert!(err.contains("a user's group name"), "{err}");
}

#[test]
fn every_bad_row_is_reported_at_once_with_its_line_and_column() {
    let dir = site(
        b"EmployeeID,Login,First,Last,Mail,Status,Groups\n\
          1,ada,Ada,L,a@x.org,,Staff\n\
          1,bob,Bob,B,b@x.org,,Staff\n\
          2,ADA,Ada,Two,a2@x.org,,Staff\n\
          3,cy,Cy,C,c@x.org,Staff\n\
          ,dee,Dee,D,d@x.org,,Staff\n\
          5, ,Eve,E,e@x.org,,Staff\n",
        COLUMN,
    );
    let r = fails(dir.path());
    insta::assert_snapshot!("csv_bad_rows", r.stderr);
    let err = flat(&r.stderr);
    for expected in [
        "the CSV directory (people.csv) has 5 problems; nothing was planned",
        "people.csv:3:1: the ID `1` (column `EmployeeID`) is also on line 2",
        "people.csv:4:2: the username `ADA` (column `Login`) is also on line 2",
        "people.csv:5:7: the row has 6 fields where the header has 7",
        "people.csv:6:1: the ID (column `EmployeeID`) is empty",
        "people.csv:7:2: the username (column `Login`) is empty",
        "roster::csv::duplicate_id",
        "roster::csv::duplicate_username",
        "roster::csv::ragged_row",
        "roster::csv::empty_id",
        "roster::csv::empty_username",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
}

#[test]
fn a_missing_column_suggests_the_closest_header_name() {
    let dir = site(
        b"EmployeeId,Logon,First,Last,E-Mail,Status,Groups\n1,ada,Ada,L,a@x.org,,Staff\n",
        COLUMN,
    );
    let err = flat(&fails(dir.path()).stderr);
    // Case does not matter: EmployeeId is EmployeeID.
    assert!(!err.contains("`EmployeeID`"), "{err}");
    assert!(
        err.contains("people.csv:1: the header has no column `Login` (`username_attribute`); did you mean `Logon`?"),
        "{err}"
    );
    assert!(
        err.contains("people.csv:1: the header has no column `Mail` (a field mapping reads it); did you mean `E-Mail`?"),
        "{err}"
    );
    assert!(err.contains("roster::csv::missing_column"), "{err}");
}

#[test]
fn problems_are_capped_and_counted_and_hostile_text_is_escaped() {
    let mut people = String::from("EmployeeID,Login,First,Last,Mail,Status,Groups\n");
    for i in 0..60 {
        people.push_str(&format!(",u{i},A,B,c@x.org,,Staff\n"));
    }
    people.push_str("9,\"evil\x1b[31m\",A,B,c@x.org,,Staff\n9,x,A,B,c@x.org,,Staff\n");
    let dir = site(people.as_bytes(), COLUMN);
    let r = fails(dir.path());
    let err = flat(&r.stderr);
    assert!(
        err.contains("has 61 problems; nothing was planned (the first 50 are listed, and 11 more)"),
        "{err}"
    );
    assert_eq!(err.matches("roster::csv::empty_id").count(), 50, "{err}");
    assert!(!r.stderr.contains('\x1b'), "{}", r.stderr);
}

#[test]
fn an_empty_file_and_a_missing_file_are_diagnostics() {
    let dir = site(b"", COLUMN);
    let err = flat(&fails(dir.path()).stderr);
    assert!(err.contains("people.csv:1: the file is empty"), "{err}");
    std::fs::remove_file(dir.path().join("people.csv")).unwrap();
    let err = flat(&fails(dir.path()).stderr);
    assert!(err.contains("cannot read"), "{err}");
    assert!(err.contains("people.csv"), "{err}");
}

#[test]
fn id_and_username_columns_are_required_for_csv() {
    let dir = site(b"EmployeeID\n", COLUMN);
    let text = std::fs::read_to_string(dir.path().join("roster.yaml")).unwrap();
    std::fs::write(
        dir.path().join("roster.yaml"),
        text.replace("  id_attribute: EmployeeID\n", ""),
    )
    .unwrap();
    let err = flat(&fails(dir.path()).stderr);
    assert!(
        err.contains("`directory.id_attribute` is required with `csv`"),
        "{err}"
    );
}

#[test]
fn the_snapshot_of_a_csv_directory_plans_the_same() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["people.csv", "groups.csv", "roster.yaml", "intranet.json"] {
        std::fs::copy(
            root().join("examples/csv-groups-file").join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    let before = plan(dir.path());
    let r = roster(dir.path(), &["snapshot", "directory", "-o", "snap.csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Wrote 4 users and 2 groups to snap.csv"),
        "{}",
        r.stderr
    );
    let snap = std::fs::read_to_string(dir.path().join("snap.csv")).unwrap();
    assert!(
        snap.starts_with("\u{feff}Personalnummer,Benutzer,Status,"),
        "{snap}"
    );
    assert!(snap.contains("4713,kai.schmidt,aktiv,"), "{snap}");
    assert!(snap.contains("Mitarbeiter|IT-Admins"), "{snap}");
    // Read back with the groups in a column, it plans the same changes: its BOM says UTF-8,
    // so the `encoding: windows-1252` the config still declares does not garble it.
    let yaml = std::fs::read_to_string(dir.path().join("roster.yaml")).unwrap();
    assert!(yaml.contains("    encoding: windows-1252\n"), "{yaml}");
    let yaml = yaml.replace("file: people.csv", "file: snap.csv").replace(
        "groups: { file: groups.csv, group_column: Gruppe, member_column: Personalnummer }",
        r#"groups: { column: Groups, separator: "|" }"#,
    );
    std::fs::write(dir.path().join("roster.yaml"), yaml).unwrap();
    let after = plan(dir.path());
    assert_eq!(changes(&after), changes(&before));
    assert!(changes(&after).iter().any(|c| c.contains("José")));
}

#[test]
fn export_with_a_csv_source_reads_only_the_columns_it_has_and_plans_right_away() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["people.csv", "roster.yaml", "intranet.json"] {
        std::fs::copy(root().join("examples/csv").join(f), dir.path().join(f)).unwrap();
    }
    let r = roster(
        dir.path(),
        &["export", "--config", "roster.yaml", "-o", "exported.yaml"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let yaml = std::fs::read_to_string(dir.path().join("exported.yaml")).unwrap();
    assert!(yaml.contains("  csv:\n"), "{yaml}");
    assert!(yaml.contains("- \"Staff\""), "{yaml}");
    assert!(yaml.contains("# - \"IT Admins\""), "{yaml}");
    // The LDAP names it guesses are not columns of this file: left as comments to fill in, so
    // the exported config plans (a guess written out would stop every plan).
    assert!(yaml.contains("  # first_name: \"givenName\"  # populated on 8 accounts; no candidate attribute found in the directory"), "{yaml}");
    // Columns compare without case: `mail` is the column `Mail`.
    assert!(
        yaml.contains("  email: \"mail\"  # populated on 8 of 8 accounts"),
        "{yaml}"
    );
    let r = roster(dir.path(), &["plan", "--config", "exported.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout.contains("grant") && !r.stdout.contains("revoke"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_csv_directory_applies_to_a_live_intranet_and_converges() {
    let scim = ScimServer::start();
    scim.create_group("Sysadmins", &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("examples/csv/people.csv"),
        dir.path().join("people.csv"),
    )
    .unwrap();
    let yaml = std::fs::read_to_string(root().join("examples/csv/roster.yaml"))
        .unwrap()
        .replace(
            "  snapshot: intranet.json",
            &format!(
                "  scim: {{ url: {}, token: {{ env: ROSTER_SCIM_TOKEN }} }}",
                scim.url()
            ),
        )
        .replace(
            "policy:\n",
            "policy:\n  max_vanished: 100%\n  protected: []\n",
        )
        .replace("  protected: [breakglass]\n", "")
        .replace("      users: [breakglass]\n", "");
    std::fs::write(dir.path().join("roster.yaml"), yaml).unwrap();
    crate::support::git::git(dir.path(), &["init", "-q", "-b", "main"]);
    crate::support::git::git(dir.path(), &["add", "."]);
    crate::support::git::git(dir.path(), &["commit", "-qm", "base"]);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
            .args(args)
            .current_dir(dir.path())
            .env("ROSTER_SCIM_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .envs(crate::support::git::AUTHOR)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&["plan", "-o", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["apply", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    let carol = scim.user_by_name("carol.chen").expect("carol created");
    assert_eq!(carol["externalId"], "E1003");
    assert_eq!(carol["title"], "Head of People\n(interim)");
    assert!(
        scim.user_by_name("erin.eng").is_none(),
        "a disabled user got an account"
    );
    // The same HR export planned again: nothing left to do.
    let (code, out, err) = run(&["plan", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(changes(&plan), Vec::<String>::new());

    // Same ID, new username: renamed, not blocked and created again.
    let people = std::fs::read_to_string(dir.path().join("people.csv"))
        .unwrap()
        .replace("E1004,dan.dev,", "E1004,dan.developer,");
    std::fs::write(dir.path().join("people.csv"), people).unwrap();
    let (code, out, err) = run(&["plan", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        changes(&plan),
        [r#"rename dan.developer username="dan.developer""#]
    );
}

#[test]
fn a_manager_column_holding_the_managers_id_maps_to_the_managers_username() {
    let dir = site(
        b"EmployeeID,Login,First,Last,Mail,Status,Groups,Boss\n1,ada,Ada,L,a@x.org,,Staff,\n2,bob,Bob,B,b@x.org,,Staff, 1 \n",
        COLUMN,
    );
    let yaml = std::fs::read_to_string(dir.path().join("roster.yaml")).unwrap();
    std::fs::write(
        dir.path().join("roster.yaml"),
        yaml.replace(
            "  email: Mail\n",
            "  email: Mail\n  manager: { from: Boss, allow_empty: true }\n",
        ),
    )
    .unwrap();
    let c = changes(&plan(dir.path()));
    assert!(
        c.iter()
            .any(|c| c.starts_with("create bob ") && c.contains(r#"manager="ada""#)),
        "{c:?}"
    );
}

#[test]
fn a_utf16_export_with_its_bom_is_read_as_its_bom_says() {
    let text =
        "EmployeeID\tLogin\tFirst\tLast\tMail\tStatus\tGroups\n1\tzoë\tZoë\tL\tz@x.org\t\tStaff\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let dir = site(&bytes, &format!("encoding: windows-1252, {COLUMN}"));
    assert_eq!(
        changes(&plan(dir.path())),
        [r#"create zoë display_name="Zoë L" email="z@x.org" first_name="Zoë" surname="L""#]
    );
}

#[test]
fn plan_base_reads_a_column_only_the_base_config_maps_as_optional() {
    // The HR export renamed Mail to Email; the pull request follows it.
    let dir = site(
        b"EmployeeID,Login,First,Last,Email,Status,Groups\n1,ada,Ada,L,a@x.org,,Staff\n",
        COLUMN,
    );
    crate::support::git::git(dir.path(), &["init", "-q", "-b", "main"]);
    crate::support::git::git(dir.path(), &["add", "."]);
    crate::support::git::git(dir.path(), &["commit", "-qm", "base"]);
    let yaml = std::fs::read_to_string(dir.path().join("roster.yaml")).unwrap();
    std::fs::write(
        dir.path().join("roster.yaml"),
        yaml.replace("email: Mail", "email: Email"),
    )
    .unwrap();
    let r = roster(dir.path(), &["plan", "--base", "main"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("a@x.org"), "{}", r.stdout);
    // Without --base, the config's own column is still required.
    write_config(dir.path(), COLUMN, "Staff");
    let err = flat(&fails(dir.path()).stderr);
    assert!(err.contains("the header has no column `Mail`"), "{err}");
}

#[test]
fn columns_named_with_spaces_and_underscores_are_mapped_as_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("people.csv"),
        "Employee ID,Login Name,First Name,Last Name,work_email,Groups\nE1,ada,Ada,Lovelace,ada@example.com,Staff\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("intranet.json"), EMPTY_INTRANET).unwrap();
    std::fs::write(
        dir.path().join("roster.yaml"),
        "version: 1\n\
         directory:\n  csv: { file: people.csv, groups: { column: Groups } }\n  id_attribute: Employee ID\n  username_attribute: Login Name\n\
         intranet:\n  snapshot: intranet.json\n\
         syncing_groups: [Staff]\n\
         field_mappings:\n  first_name: First Name\n  display_name: \"{First Name} {Last Name}\"\n  email: work_email\n",
    )
    .unwrap();
    let plan = plan(dir.path());
    assert_eq!(
        changes(&plan),
        [r#"create ada display_name="Ada Lovelace" email="ada@example.com" first_name="Ada""#]
    );
    // A control character is no column's name: the mapping is refused at its place.
    let yaml = std::fs::read_to_string(dir.path().join("roster.yaml")).unwrap();
    std::fs::write(
        dir.path().join("roster.yaml"),
        yaml.replace("first_name: First Name", "first_name: \"First\\tName\""),
    )
    .unwrap();
    let r = fails(dir.path());
    assert!(r.stderr.contains("is not a column name"), "{}", r.stderr);
}

#[test]
fn line_numbers_are_the_editors_with_crlf_endings_blank_lines_and_lone_cr() {
    let rows = [
        "EmployeeID,Login,First,Last,Mail,Status,Groups",
        "E1,a,A,A,a@x,active,Staff",
        "",
        "",
        "",
        "E1,b,B,B,b@x,active,Staff",
        "E2,a,C,C,c@x,active,Staff",
        "E3,d,\"multi",
        "line\",D,d@x,active,Staff",
        "E3,e,E,E,e@x,active,Staff",
    ];
    for ending in ["\n", "\r\n", "\r"] {
        let dir = site(rows.join(ending).as_bytes(), COLUMN);
        let r = fails(dir.path());
        for want in [
            "people.csv:6:1",
            "also on line 2",
            "people.csv:7:2",
            "people.csv:10:1",
            "also on line 8",
        ] {
            assert!(
                r.stderr.contains(want),
                "{ending:?}: no {want:?} in\n{}",
                r.stderr
            );
        }
    }
}

#[test]
fn a_csv_group_with_no_members_is_allowed_by_allow_empty_and_a_typo_is_still_refused() {
    let people = b"EmployeeID,Login,First,Last,Mail,Status,Groups\nE1,ada,Ada,L,a@x,active,Staff\n";
    let dir = site(people, COLUMN);
    write_config(
        dir.path(),
        COLUMN,
        "Staff, { group: Contractors, allow_empty: true }",
    );
    let r = roster(dir.path(), &["plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The plan's warnings are part of the plan, on stdout.
    assert!(
        r.stdout.contains(
            "syncing group Contractors has no members in the directory (allowed by `allow_empty`)"
        ),
        "{}",
        r.stdout
    );
    // A name close to one the file has is likelier a typo: the warning says so.
    write_config(
        dir.path(),
        COLUMN,
        "Staff, { group: Staf, allow_empty: true }",
    );
    let r = roster(dir.path(), &["plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("syncing group Staf has no members in the directory (allowed by `allow_empty`); did you mean `Staff`"),
        "{}",
        r.stdout
    );
    write_config(dir.path(), COLUMN, "Staf");
    let r = fails(dir.path());
    assert!(r.stderr.contains("is not in the directory"), "{}", r.stderr);
    assert!(r.stderr.contains("Staff"), "{}", r.stderr);
}

#[test]
fn a_snapshot_named_for_another_format_is_refused_before_reading() {
    let people = b"EmployeeID,Login,First,Last,Mail,Status,Groups\nE1,ada,Ada,L,a@x,active,Staff\n";
    let dir = site(people, COLUMN);
    let r = roster(dir.path(), &["snapshot", "directory", "-o", "dir.ldif"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("dir.ldif is named `.ldif`, but this directory's snapshot is CSV"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("dir.ldif").exists());
    let r = roster(dir.path(), &["snapshot", "directory", "-o", "dir.csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Wrote 1 user and 1 group to dir.csv."),
        "{}",
        r.stderr
    );
}

#[test]
fn a_declared_delimiter_the_file_does_not_use_is_one_problem_naming_the_right_one() {
    let people = b"EmployeeID;Login;First;Last;Mail;Status;Groups\nE1;ada;Ada;L;a@x;active;Staff\nE2;bob;Bob;M;b@x;active;Staff\n";
    let dir = site(people, &format!("delimiter: \",\", {COLUMN}"));
    let r = fails(dir.path());
    assert!(
        r.stderr.contains("roster::csv::wrong_delimiter"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("the file looks delimited by `;`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("has 1 problem;"), "{}", r.stderr);
    assert!(!r.stderr.contains("missing_column"), "{}", r.stderr);
}

#[test]
fn a_csv_disabled_column_without_values_is_refused_at_its_place() {
    let people = b"EmployeeID,Login,First,Last,Mail,Status,Groups\nE1,ada,Ada,L,a@x,active,Staff\n";
    let dir = site(people, COLUMN);
    let path = dir.path().join("roster.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        yaml.replace(
            "disabled: { attribute: Status, values: [terminated, leave] }",
            "disabled: { attribute: Status }",
        ),
    )
    .unwrap();
    let r = fails(dir.path());
    let err = flat(&r.stderr);
    assert!(
        err.contains("a `csv` disabled column needs the `values` that mean disabled"),
        "{err}"
    );
    assert!(err.contains("roster.yaml:"), "{err}");
}
