//! Unit tests of the LDAP source's pure parts: filters, IDs, ranges, decoding, errors.

use ldap3::asn1::StructureTag;
use ldap3::ResultEntry;

use super::*;
use crate::config::{SearchConfig, Secret};
use crate::directory::groups::strip_uid_suffix;
use crate::model::{EntryBuilder, Value};

#[test]
fn escape_filter_value_escapes_specials_nul_and_keeps_utf8() {
    assert_eq!(escape_filter_value(r"a*(b)\c"), r"a\2a\28b\29\5cc");
    assert_eq!(escape_filter_value("x\0y"), r"x\00y");
    assert_eq!(escape_filter_value("José Ωmega"), "José Ωmega");
    assert_eq!(equality_filter("cn", "*"), r"(cn=\2a)");
    assert!(ldap3::parse_filter(equality_filter("cn", "a*(b)\\c\0é")).is_ok());
}

#[test]
fn object_guid_in_ad_byte_order() {
    // Recorded: bytes as AD returns them, and the GUID string AD tools show for them.
    let bytes = [
        0xc9, 0x8b, 0x91, 0x35, 0x6d, 0x19, 0xea, 0x40, 0x97, 0x79, 0x88, 0x9d, 0x79, 0xb7, 0x53,
        0xf0,
    ];
    assert_eq!(
        id_text("objectGUID", &bytes).unwrap(),
        "35918bc9-196d-40ea-9779-889d79b753f0"
    );
    assert!(id_text("objectGUID", &bytes[..15])
        .unwrap_err()
        .contains("15 bytes"));
}

#[test]
fn text_ids_pass_through() {
    let uuid = b"a514cc60-7d82-1041-9106-45c49d17789e";
    assert_eq!(
        id_text("entryUUID", uuid).unwrap(),
        "a514cc60-7d82-1041-9106-45c49d17789e"
    );
    assert_eq!(
        id_text("nsUniqueId", b"6d0c1a01-1dd211b2-8a7cc7b5-9e4f0000")
            .unwrap()
            .len(),
        35
    );
    assert_eq!(
        id_text("ipaUniqueID", b"f4e3a1c2-4f4b-11ee-9b1c-525400c0ffee")
            .unwrap()
            .len(),
        36
    );
    assert!(id_text("entryUUID", &[0xff, 0xfe]).is_err());
    assert!(id_text("entryUUID", b" ").is_err());
}

#[test]
fn ranges_from_recorded_ad_attribute_names() {
    assert_eq!(
        parse_range("member;range=0-1499"),
        Some(("member", Some(1499)))
    );
    assert_eq!(
        parse_range("member;range=1500-2999"),
        Some(("member", Some(2999)))
    );
    assert_eq!(parse_range("member;range=3000-*"), Some(("member", None)));
    assert_eq!(parse_range("member;Range=0-*"), Some(("member", None)));
    assert_eq!(parse_range("member"), None);
    assert_eq!(parse_range("member;binary"), None);
    assert_eq!(parse_range("member;range=x"), None);
}

/// A search result entry as ldap3 hands it over (BER already parsed into tags).
fn result_entry(dn: &str, attrs: &[(&str, &[&[u8]])]) -> ResultEntry {
    use ldap3::asn1::{TagClass, PL};
    let prim = |id: u64, b: &[u8]| StructureTag {
        class: TagClass::Universal,
        id,
        payload: PL::P(b.to_vec()),
    };
    let cons = |class: TagClass, id: u64, inner: Vec<StructureTag>| StructureTag {
        class,
        id,
        payload: PL::C(inner),
    };
    let attributes = attrs
        .iter()
        .map(|(name, values)| {
            let set = values.iter().map(|v| prim(4, v)).collect();
            cons(
                TagClass::Universal,
                16,
                vec![prim(4, name.as_bytes()), cons(TagClass::Universal, 17, set)],
            )
        })
        .collect();
    let entry = cons(
        TagClass::Application,
        4,
        vec![
            prim(4, dn.as_bytes()),
            cons(TagClass::Universal, 16, attributes),
        ],
    );
    ResultEntry::new(entry)
}

#[test]
fn decoded_entries_carry_text_ids_and_pending_ranges() {
    // Recorded from AD: a group with more members than MaxValRange, and its objectGUID.
    let guid: &[u8] = &[
        0xc9, 0x8b, 0x91, 0x35, 0x6d, 0x19, 0xea, 0x40, 0x97, 0x79, 0x88, 0x9d, 0x79, 0xb7, 0x53,
        0xf0,
    ];
    let re = result_entry(
        "CN=All Staff,OU=Groups,DC=corp,DC=example",
        &[
            ("objectClass", &[b"top", b"group"]),
            (
                "member;range=0-1499",
                &[b"CN=A,DC=corp,DC=example", b"CN=B,DC=corp,DC=example"],
            ),
            ("objectGUID", &[guid]),
            ("thumbnailPhoto", &[&[0xff, 0xd8, 0xff]]),
        ],
    );
    let (entry, pending) = decode_entry(re, "objectguid", &mut EntryBuilder::default())
        .map_err(|_| "decode")
        .unwrap();
    assert_eq!(pending, [("member".to_owned(), 1500)]);
    assert_eq!(entry.values("member").len(), 2);
    assert!(!entry.attrs().any(|(k, _)| k.contains(';')), "{entry:?}");
    assert_eq!(
        entry.first_text("objectGUID"),
        Some("35918bc9-196d-40ea-9779-889d79b753f0")
    );
    assert_eq!(
        entry.values("thumbnailphoto").iter().collect::<Vec<_>>(),
        [Value::Binary(&[0xff, 0xd8, 0xff])]
    );

    let short_guid = result_entry("CN=x", &[("objectGUID", &[&guid[..8]])]);
    assert!(matches!(
        decode_entry(short_guid, "objectguid", &mut EntryBuilder::default()),
        Err(Decode::BadId { .. })
    ));
    let not_an_entry = ResultEntry::new(StructureTag {
        class: ldap3::asn1::TagClass::Application,
        id: 5,
        payload: ldap3::asn1::PL::C(vec![]),
    });
    assert!(matches!(
        decode_entry(not_an_entry, "entryuuid", &mut EntryBuilder::default()),
        Err(Decode::Malformed(_))
    ));
}

#[test]
fn ranged_answers_are_merged_until_the_last_range() {
    // Recorded AD answers to `member;range=1500-*` and `member;range=3000-*`.
    let mut e = Entry::new("CN=All Staff,DC=corp");
    e.add(
        "member",
        crate::model::AttrValue::Text("CN=A,DC=corp".into()),
    );
    let answer = |name: &str, values: &[&str]| -> RawAttributes {
        vec![(
            name.to_owned(),
            values.iter().map(|v| v.as_bytes().to_vec()).collect(),
        )]
    };
    let next = merge_range(
        &mut e,
        "member",
        answer("member;range=1500-2999", &["CN=B,DC=corp"]),
        1500,
    );
    assert_eq!(next, Ok(Some(3000)));
    let next = merge_range(
        &mut e,
        "member",
        answer("member;range=3000-*", &["CN=C,DC=corp"]),
        3000,
    );
    assert_eq!(next, Ok(None));
    let members: Vec<_> = e.values("member").texts().collect();
    assert_eq!(members, ["CN=A,DC=corp", "CN=B,DC=corp", "CN=C,DC=corp"]);

    // A server that repeats a range, or answers without one, ends the loop.
    assert_eq!(
        merge_range(&mut e, "member", answer("member;range=0-1499", &[]), 3000),
        Ok(None)
    );
    assert_eq!(
        merge_range(&mut e, "member", answer("cn", &["x"]), 3000),
        Ok(None)
    );
    let mut g = Entry::new("cn=u");
    let _ = merge_range(
        &mut g,
        "uniqueMember",
        answer("uniqueMember;range=0-*", &["uid=a,dc=x#'01'B"]),
        0,
    );
    assert_eq!(g.first_text("uniquemember"), Some("uid=a,dc=x"));
}

#[test]
fn password_attributes_are_never_asked_for() {
    let d: DirectoryConfig =
        serde_json::from_value(serde_json::json!({ "ldif": "d.ldif" })).unwrap();
    let asked = [
        "mail".to_owned(),
        "userPassword".to_owned(),
        "unicodePwd".to_owned(),
        "userPassword;binary".to_owned(),
    ];
    let s = Searches::new(&cfg("ldaps://x"), &d, &asked).unwrap();
    assert!(s.users.attrs.iter().any(|a| a == "mail"));
    for a in &s.users.attrs {
        assert!(!is_password_attribute(a), "{a}");
    }
}

#[test]
fn unique_member_uid_suffix_is_stripped() {
    assert_eq!(
        strip_uid_suffix("uid=a,ou=people,dc=x#'0101'B"),
        "uid=a,ou=people,dc=x"
    );
    assert_eq!(
        strip_uid_suffix("uid=a,ou=people,dc=x"),
        "uid=a,ou=people,dc=x"
    );
    assert_eq!(strip_uid_suffix(r"cn=a\#b,dc=x"), r"cn=a\#b,dc=x");
    assert_eq!(strip_uid_suffix("cn=x#'0102'B"), "cn=x#'0102'B");
}

fn cfg(url: &str) -> LdapConfig {
    serde_json::from_value(serde_json::json!({
        "url": url,
        "base_dn": "dc=example,dc=org",
        "bind_dn": "cn=reader,dc=example,dc=org",
        "password": { "env": "ROSTER_UNIT_TEST_UNSET_VARIABLE" },
    }))
    .expect("an LDAP config")
}

#[test]
fn insecure_allows_a_remote_clear_text_bind_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "  s3cret-pw \n").unwrap();
    let mut c = cfg("ldap://192.0.2.1");
    c.password = Some(Secret::File("pw".into()));
    c.insecure = true;
    let t = Target::new(&c, dir.path()).unwrap();
    assert_eq!(
        t.bind.as_ref().map(|(_, p)| p.0.as_str()),
        Some("s3cret-pw"),
        "trimmed"
    );
    assert_eq!(t.warnings.len(), 1);
    assert!(t.warnings[0].contains("clear text") && !t.warnings[0].contains("s3cret-pw"));
    assert!(t.tls.is_none());
}

#[test]
fn a_clear_text_bind_to_loopback_is_allowed_with_a_warning_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret-pw").unwrap();
    let mut c = cfg("ldap://127.0.0.1:3389");
    c.password = Some(Secret::File("pw".into()));
    let t = Target::new(&c, dir.path()).unwrap();
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    let w = &t.warnings[0];
    assert!(
        w.contains("clear text") && w.contains("loopback") && w.contains("ldap://127.0.0.1:3389"),
        "{w}"
    );
    assert!(!w.contains("insecure") && !w.contains("s3cret-pw"), "{w}");
    // With TLS, or without a password, nothing to say.
    c.start_tls = true;
    assert!(Target::new(&c, dir.path()).unwrap().warnings.is_empty());
    let mut anonymous = cfg("ldap://127.0.0.1:3389");
    anonymous.bind_dn = None;
    anonymous.password = None;
    assert!(Target::new(&anonymous, dir.path())
        .unwrap()
        .warnings
        .is_empty());
}

#[test]
fn a_ca_file_that_holds_no_certificate_says_what_it_should_hold() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), "not a certificate\n").unwrap();
    let mut c = cfg("ldaps://127.0.0.1");
    c.bind_dn = None;
    c.password = None;
    c.ca_file = Some("ca.pem".into());
    let e = Target::new(&c, dir.path()).err().unwrap();
    assert!(matches!(e, LdapError::CaFile { .. }), "{e:?}");
    let help = miette::Diagnostic::help(&e).unwrap().to_string();
    assert!(
        help.contains("the CA that issued the server's certificate")
            && help.contains("BEGIN CERTIFICATE")
            && help.ends_with("folder"),
        "{help}"
    );
}

#[test]
fn plain_ldap_with_password_refused_for_remote_hosts_only() {
    let dir = Path::new(".");
    let e = Target::new(&cfg("ldap://192.0.2.1"), dir).err().unwrap();
    assert!(matches!(e, LdapError::Insecure { .. }), "{e:?}");
    let e = Target::new(&cfg("ldap://ldap.example.org:389"), dir)
        .err()
        .unwrap();
    assert!(matches!(e, LdapError::Insecure { .. }), "{e:?}");
    // Loopback passes the guard (and fails on the unset password instead).
    for url in [
        "ldap://127.0.0.1:3389",
        "ldap://localhost",
        "ldap://[::1]:389",
    ] {
        let e = Target::new(&cfg(url), dir).err().unwrap();
        assert!(matches!(e, LdapError::Password { .. }), "{url}: {e:?}");
    }
}

#[test]
fn bad_urls_and_filters_are_diagnostics() {
    let dir = Path::new(".");
    for url in ["http://x", "ldap://", "not a url"] {
        assert!(
            matches!(Target::new(&cfg(url), dir), Err(LdapError::Url { .. })),
            "{url}"
        );
    }
    let mut c = cfg("ldaps://x");
    c.start_tls = true;
    assert!(matches!(Target::new(&c, dir), Err(LdapError::Url { .. })));
    c.start_tls = false;
    c.users = Some(SearchConfig {
        base: None,
        filter: Some("(uid=a".into()),
        scope: None,
    });
    let d: DirectoryConfig =
        serde_json::from_value(serde_json::json!({ "ldif": "d.ldif" })).unwrap();
    assert!(matches!(
        Searches::new(&c, &d, &[]),
        Err(LdapError::Filter { which: "users", .. })
    ));
}

#[test]
fn password_debug_is_redacted() {
    assert_eq!(
        format!("{:?}", Password("hunter2".into())),
        "Password(<redacted>)"
    );
}
