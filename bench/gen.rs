//! Synthetic companies for the benchmarks: a directory (LDIF) and an intranet (SCIM snapshot) of
//! N users with realistic churn — 1% renames, 2% leavers, 1% disabled, 5% local overrides, 0.5%
//! new hires, and role drift. Deterministic: the same N gives the same files.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;

pub const DEPARTMENTS: [&str; 8] = [
    "Engineering",
    "Sales",
    "Finance",
    "People",
    "Operations",
    "Legal",
    "Marketing",
    "Support",
];

/// A small deterministic generator (xorshift), so no dependency decides the data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

fn uuid(i: usize) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        i,
        i % 0xffff,
        i % 0xfff,
        (i / 7) % 0xfff,
        i * 2654435761 % 0xffff_ffff_ffff
    )
}

/// Write `directory.ldif`, `intranet.json` and `roster.yaml` for `n` users into `dir`, and the
/// same people as an HR export: `people.csv` (groups in a column) and `roster-csv.yaml`, which
/// plan the same changes.
pub fn company(dir: &Path, n: usize) -> std::io::Result<()> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let mut ldif =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("directory.ldif"))?);
    let mut csv = BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("people.csv"))?);
    writeln!(
        csv,
        "EmployeeID,Login,First,Last,Mail,Phone,Title,Department,Status,Groups"
    )?;
    let mut json =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("intranet.json"))?);
    writeln!(ldif, "version: 1\n")?;
    let mut members = Vec::with_capacity(n);
    let mut admins = Vec::new();
    let mut sysadmins_now = Vec::new();
    write!(json, "{{\"users\":{{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],\"totalResults\":{n},\"Resources\":[")?;
    let mut first = true;
    let mut rec = String::with_capacity(1024);
    for i in 0..n {
        let uid = format!("user{i:07}");
        let dept = DEPARTMENTS[i % DEPARTMENTS.len()];
        let leaver = rng.chance(20);
        let disabled = rng.chance(10);
        let renamed = rng.chance(10);
        let override_ = rng.chance(50);
        let new_hire = rng.chance(5);
        let dn = format!("uid={uid},ou=people,dc=example,dc=com");
        rec.clear();
        let _ = write!(rec, "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: Given{i} Family{i}\ngivenName: Given{i}\nsn: Family{i}\nmail: {uid}@example.com\ntelephoneNumber: +1 555 {:07}\ntitle: Title {}\ndepartmentNumber: {dept}\nentryUUID: {}\n", i, i % 97, uuid(i));
        if disabled {
            rec.push_str("pwdAccountLockedTime: 20260101000000Z\n");
        }
        rec.push('\n');
        ldif.write_all(rec.as_bytes())?;
        // In the LDIF, admins is nested in staff, so an admin who left is still synced.
        let groups = match (i % 2000 == 0, leaver) {
            (true, _) => "Staff|Admins",
            (false, false) => "Staff",
            (false, true) => "",
        };
        writeln!(
            csv,
            "{},{uid},Given{i},Family{i},{uid}@example.com,+1 555 {i:07},Title {},{dept},{},{groups}",
            uuid(i),
            i % 97,
            if disabled { "terminated" } else { "active" }
        )?;
        if !leaver {
            members.push(dn.clone());
        }
        if i % 2000 == 0 {
            admins.push(dn);
        }
        if new_hire {
            continue;
        }
        let username = if renamed {
            format!("old{i:07}")
        } else {
            uid.clone()
        };
        let title = if override_ {
            "Local edit".to_owned()
        } else {
            format!("Title {}", i % 97)
        };
        if !first {
            json.write_all(b",")?;
        }
        first = false;
        write!(json, "{{\"id\":\"s{i}\",\"userName\":\"{username}\",\"externalId\":\"{}\",\"active\":true,\"name\":{{\"givenName\":\"Given{i}\",\"familyName\":\"Family{i}\"}},\"displayName\":\"Given{i} Family{i}\",\"title\":\"{title}\",\"emails\":[{{\"value\":\"{uid}@example.com\",\"type\":\"work\",\"primary\":true}}],\"phoneNumbers\":[{{\"value\":\"+1 555 {i:07}\",\"type\":\"work\"}}],\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{{\"department\":\"{dept}\"}},\"meta\":{{\"version\":\"W/\\\"1\\\"\"}}}}", uuid(i))?;
        // Role drift: every 1500th account holds sysadmin without being configured.
        if i % 2000 == 0 || i % 1500 == 0 {
            sysadmins_now.push(format!("s{i}"));
        }
    }
    write!(json, "]}},\"groups\":{{\"Resources\":[{{\"id\":\"g-sys\",\"displayName\":\"Sysadmins\",\"members\":[")?;
    for (k, m) in sysadmins_now.iter().enumerate() {
        write!(
            json,
            "{}{{\"value\":\"{m}\"}}",
            if k > 0 { "," } else { "" }
        )?;
    }
    writeln!(json, "]}}]}}}}")?;
    write!(ldif, "dn: cn=staff,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: staff\nmember: cn=admins,ou=groups,dc=example,dc=com\n")?;
    for m in &members {
        writeln!(ldif, "member: {m}")?;
    }
    // admins and oncall nest each other: a cycle, as real directories have.
    write!(ldif, "\ndn: cn=admins,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: admins\nmember: cn=oncall,ou=groups,dc=example,dc=com\n")?;
    for m in &admins {
        writeln!(ldif, "member: {m}")?;
    }
    write!(ldif, "\ndn: cn=oncall,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: oncall\nmember: cn=admins,ou=groups,dc=example,dc=com\n")?;
    ldif.flush()?;
    json.flush()?;
    csv.flush()?;
    std::fs::write(
        dir.join("roster-csv.yaml"),
        "version: 1\ndirectory:\n  csv: { file: people.csv, groups: { column: Groups, separator: \"|\" } }\n  id_attribute: EmployeeID\n  username_attribute: Login\n  disabled: { attribute: Status, values: [terminated] }\nintranet:\n  snapshot: intranet.json\nsyncing_groups: [Staff]\nfield_mappings:\n  first_name: First\n  surname: Last\n  display_name: \"{First} {Last}\"\n  email: Mail\n  phone: Phone\n  job_title: Title\n  department: Department\nadmin_roles:\n  sysadmin:\n    intranet_group: Sysadmins\n    members:\n      groups: [Admins]\npolicy:\n  max_vanished: 100%\n  max_revokes: 100%\n",
    )?;
    std::fs::write(
        dir.join("roster.yaml"),
        "version: 1\ndirectory:\n  ldif: directory.ldif\n  disabled: { attribute: pwdAccountLockedTime }\nintranet:\n  snapshot: intranet.json\nsyncing_groups:\n  - cn=staff,ou=groups,dc=example,dc=com\nfield_mappings:\n  first_name: givenName\n  surname: sn\n  display_name: \"{givenName} {sn}\"\n  email: mail\n  phone: telephoneNumber\n  job_title: title\n  department: departmentNumber\nadmin_roles:\n  sysadmin:\n    intranet_group: Sysadmins\n    members:\n      groups:\n        - cn=admins,ou=groups,dc=example,dc=com\npolicy:\n  max_vanished: 100%\n  max_revokes: 100%\n",
    )
}
