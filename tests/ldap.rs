//! The live LDAP source against a real private slapd.

use std::process::Command;

use crate::support::slapd::{Slapd, BASE_DN, LIMITED_DN, LIMITED_PW, PEOPLE};

fn ldapsearch(server: &Slapd, args: &[&str]) -> String {
    let out = Command::new("ldapsearch")
        .args(["-x", "-LLL", "-H", &server.url, "-b", BASE_DN])
        .args(args)
        .output()
        .expect("run ldapsearch");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn harness_serves_bulk_data_and_changes_and_caps_the_limited_identity() {
    let mut ldif = String::new();
    for i in 0..600 {
        ldif.push_str(&format!(
            "dn: uid=u{i},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: u{i}\ncn: U {i}\nsn: U\n\n"
        ));
    }
    let server = Slapd::start(&ldif);
    let found = ldapsearch(&server, &["(uid=u599)", "entryUUID"]);
    assert!(found.contains("entryUUID: "), "{found}");

    server.modify(&format!(
        "dn: uid=u1,{PEOPLE}\nchangetype: modrdn\nnewrdn: uid=renamed\ndeleteoldrdn: 1\n"
    ));
    assert!(ldapsearch(&server, &["(uid=renamed)", "uid"]).contains("dn: uid=renamed,"));

    let capped = Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-H",
            &server.url,
            "-b",
            PEOPLE,
            "-D",
            LIMITED_DN,
            "-w",
            LIMITED_PW,
            "(uid=*)",
            "1.1",
        ])
        .output()
        .expect("run ldapsearch");
    assert_eq!(
        capped.status.code(),
        Some(4),
        "size limit exceeded expected for the limited identity"
    );
}

#[test]
fn harness_serves_tls_with_its_own_ca() {
    let server = Slapd::builder()
        .tls(&["DNS:localhost", "IP:127.0.0.1"])
        .start();
    let addr = server.ldaps_url("127.0.0.1").replace("ldaps://", "");
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr,
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
            "-CAfile",
        ])
        .arg(server.ca_file())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Verify return code: 0 (ok)"),
        "{text}"
    );
}
