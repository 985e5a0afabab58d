//! The live LDAP source against a real private slapd.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use roster::config::{DirectoryConfig, DisabledRule, LdapConfig, SearchConfig, SourceConfig};
use roster::directory::ldap::{equality_filter, read, LdapError};
use roster::directory::DirectorySource;
use roster::model::{DirectoryState, Entry};

use crate::support::proxy::CuttingProxy;
use crate::support::ranging::{RangingProxy, WINDOWS_MAX_VALUES};
use crate::support::slapd::{
    Slapd, BASE_DN, CAPPED_DN, CAPPED_PW, GROUPS, LIMITED_DN, LIMITED_PW, PEOPLE, ROOT_DN, ROOT_PW,
};

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

// --- the live source ---------------------------------------------------------------------------

fn user(uid: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!("{extra}\n")
    };
    format!("dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nmail: {uid}@example.org\n{extra}\n")
}

fn users(n: usize) -> String {
    (0..n).map(|i| user(&format!("u{i:05}"), "")).collect()
}

fn group_of_names(cn: &str, members: &[String]) -> String {
    let mut s = format!("dn: cn={cn},{GROUPS}\nobjectClass: groupOfNames\ncn: {cn}\n");
    for m in members {
        s.push_str(&format!("member: {m}\n"));
    }
    s + "\n"
}

fn user_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE}")
}

fn group_dn(cn: &str) -> String {
    format!("cn={cn},{GROUPS}")
}

/// A config reading `server` as `bind` (DN, password); the password goes through a file.
fn config(server: &Slapd, bind: Option<(&str, &str)>) -> (LdapConfig, DirectoryConfig) {
    config_at(&server.url, server.dir(), bind)
}

/// A config for `url` with every setting at its default but the timeouts.
fn config_at(url: &str, dir: &Path, bind: Option<(&str, &str)>) -> (LdapConfig, DirectoryConfig) {
    let mut ldap =
        serde_json::json!({ "url": url, "base_dn": BASE_DN, "connect_timeout": 5, "timeout": 30 });
    if let Some((dn, pw)) = bind {
        let name = format!(
            "pw-{}",
            dn.split(',').next().unwrap_or("x").replace('=', "-")
        );
        std::fs::write(dir.join(&name), format!("{pw}\n")).expect("write password file");
        ldap["bind_dn"] = dn.into();
        ldap["password"] = serde_json::json!({ "file": name });
    }
    let dir: DirectoryConfig = serde_json::from_value(serde_json::json!({ "ldap": ldap.clone() }))
        .expect("a directory config");
    let ldap: LdapConfig = serde_json::from_value(ldap).expect("an LDAP config");
    (ldap, dir)
}

async fn read_as(
    server: &Slapd,
    cfg: &LdapConfig,
    dir: &DirectoryConfig,
) -> Result<DirectoryState, LdapError> {
    read(
        cfg,
        dir,
        &["mail".to_owned(), "cn".to_owned()],
        server.dir(),
    )
    .await
}

/// 1,200 users behind a relay `relay` makes in front of slapd's port, read as the limited identity.
fn behind_relay(
    relay: impl FnOnce(u16) -> CuttingProxy,
) -> (Slapd, CuttingProxy, LdapConfig, DirectoryConfig) {
    let server = Slapd::start(&users(1200));
    let proxy = relay(server.port);
    let (mut cfg, dir) = config(&server, Some((LIMITED_DN, LIMITED_PW)));
    cfg.url = proxy.url();
    (server, proxy, cfg, dir)
}

/// A read that must fail, and within `limit` (no waiting on a timeout that should not apply).
async fn fails_within(
    limit: Duration,
    cfg: &LdapConfig,
    dir: &DirectoryConfig,
    base: &Path,
) -> LdapError {
    let started = Instant::now();
    let e = read(cfg, dir, &[], base)
        .await
        .expect_err("the read must fail");
    assert!(
        started.elapsed() < limit,
        "took {:?}: {e}",
        started.elapsed()
    );
    e
}

fn by_uid<'a>(state: &'a DirectoryState, uid: &str) -> &'a Entry {
    state
        .users
        .iter()
        .find(|u| u.first_text("uid") == Some(uid))
        .unwrap_or_else(|| panic!("no user {uid}"))
}

fn members(state: &DirectoryState, cn: &str) -> Vec<String> {
    let g = state
        .groups
        .iter()
        .find(|g| g.dn() == group_dn(cn))
        .unwrap_or_else(|| panic!("no group {cn}"));
    let mut m: Vec<String> = ["member", "uniquemember"]
        .iter()
        .flat_map(|a| {
            g.values(a)
                .iter()
                .filter_map(|v| v.as_text().map(str::to_owned))
        })
        .collect();
    m.sort();
    m
}

/// The full diagnostic as a person sees it (code, message, help), without colour.
fn rendered(e: &LdapError) -> String {
    let mut out = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    handler
        .render_report(&mut out, e)
        .expect("render diagnostic");
    out
}

/// `e` has this code, and its rendering says `says`.
fn assert_diagnostic(e: &LdapError, code_is: &str, says: &str) {
    assert_eq!(code(e), code_is, "{e}");
    let text = rendered(e);
    assert!(text.contains(says), "expected {says:?} in:\n{text}");
}

fn code(e: &LdapError) -> String {
    miette::Diagnostic::code(e)
        .map(|c| c.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn paging_carries_a_read_past_the_identity_size_limit() {
    let server = Slapd::start(&users(1200));
    let (cfg, dir) = config(&server, Some((LIMITED_DN, LIMITED_PW)));
    let state = read_as(&server, &cfg, &dir).await.expect("paged read");
    assert_eq!(state.users.len(), 1200);
    let ids: std::collections::BTreeSet<_> = state
        .users
        .iter()
        .filter_map(|u| u.first_text("entryuuid"))
        .collect();
    assert_eq!(
        ids.len(),
        1200,
        "every user carries its own entryUUID as text"
    );
    let u = by_uid(&state, "u01199");
    assert_eq!(u.first_text("mail"), Some("u01199@example.org"));
    assert!(u
        .values("objectclass")
        .iter()
        .any(|c| c.as_text() == Some("inetOrgPerson")));
    assert!(!u.has("sn"), "only the attributes asked for are read");
    // The one warning: the password went to loopback without TLS.
    assert_eq!(state.warnings.len(), 1, "{:?}", state.warnings);
    assert!(
        state.warnings[0].contains("clear text") && state.warnings[0].contains("loopback"),
        "{:?}",
        state.warnings
    );
}

#[tokio::test]
async fn a_read_truncated_by_the_server_is_an_error_not_a_smaller_directory() {
    let server = Slapd::start(&users(1200));
    let (cfg, dir) = config(&server, Some((CAPPED_DN, CAPPED_PW)));
    let e = read_as(&server, &cfg, &dir)
        .await
        .expect_err("a capped read must fail");
    assert_eq!(code(&e), "roster::ldap::truncated");
    let text = rendered(&e);
    assert!(text.contains("sizeLimitExceeded (rc 4)"), "{text}");
    assert!(
        text.contains(CAPPED_DN) && text.contains(&server.url),
        "{text}"
    );
    assert!(!text.contains(CAPPED_PW), "{text}");
}

#[tokio::test]
async fn nested_groups_with_a_cycle_arrive_with_all_their_members() {
    let mut ldif = users(3);
    ldif += &group_of_names("a", &[group_dn("b"), user_dn("u00000")]);
    ldif += &group_of_names("b", &[group_dn("c"), user_dn("u00001")]);
    ldif += &group_of_names("c", &[group_dn("a")]);
    ldif += &format!(
        "dn: cn=unique,{GROUPS}\nobjectClass: groupOfUniqueNames\ncn: unique\nuniqueMember: {}#'0101'B\nuniqueMember: {}\n\n",
        user_dn("u00002"),
        group_dn("a")
    );
    let server = Slapd::start(&ldif);
    let (cfg, dir) = config(&server, None);
    let state = read_as(&server, &cfg, &dir).await.expect("anonymous read");
    assert_eq!(state.users.len(), 3);
    assert_eq!(state.groups.len(), 4);
    assert_eq!(members(&state, "a"), [group_dn("b"), user_dn("u00000")]);
    assert_eq!(members(&state, "b"), [group_dn("c"), user_dn("u00001")]);
    assert_eq!(members(&state, "c"), [group_dn("a")]);
    assert_eq!(
        members(&state, "unique"),
        [group_dn("a"), user_dn("u00002")],
        "the #'0101'B UID is stripped"
    );
    // What the core makes of it: every user, through the cycle, from any group of the ring.
    let resolved = roster::directory::groups::Groups::new(&state);
    let mut all: Vec<String> = resolved
        .transitive_members([&group_dn("c")])
        .into_iter()
        .map(std::borrow::Cow::into_owned)
        .collect();
    all.sort();
    assert_eq!(all, [user_dn("u00000"), user_dn("u00001")]);
}

#[tokio::test]
async fn a_locked_user_arrives_with_pwd_account_locked_time() {
    let ldif = user("locked", "pwdAccountLockedTime: 000001010000Z") + &user("open", "");
    let server = Slapd::start(&ldif);
    let (cfg, mut dir) = config(&server, Some((LIMITED_DN, LIMITED_PW)));
    dir.disabled = Some(DisabledRule::Attribute("pwdAccountLockedTime".into()));
    let state = read_as(&server, &cfg, &dir).await.expect("read");
    assert_eq!(
        by_uid(&state, "locked").first_text("pwdaccountlockedtime"),
        Some("000001010000Z")
    );
    assert!(!by_uid(&state, "open").has("pwdaccountlockedtime"));
}

#[tokio::test]
async fn a_renamed_user_keeps_its_entry_uuid() {
    let server = Slapd::start(
        &(users(2) + &group_of_names("staff", &[user_dn("u00000"), user_dn("u00001")])),
    );
    let (cfg, dir) = config(&server, Some((ROOT_DN, ROOT_PW)));
    let before = read_as(&server, &cfg, &dir).await.expect("read before");
    let id = by_uid(&before, "u00000")
        .first_text("entryuuid")
        .expect("entryUUID")
        .to_owned();

    server.modify(&format!(
        "dn: {}\nchangetype: modrdn\nnewrdn: uid=jdoe\ndeleteoldrdn: 1\n",
        user_dn("u00000")
    ));
    let after = read_as(&server, &cfg, &dir).await.expect("read after");
    let renamed = by_uid(&after, "jdoe");
    assert_eq!(renamed.first_text("entryuuid"), Some(id.as_str()));
    assert_eq!(renamed.dn(), user_dn("jdoe"));
    assert!(after
        .users
        .iter()
        .all(|u| u.first_text("uid") != Some("u00000")));
}

#[tokio::test]
async fn a_user_removed_from_a_syncing_group_is_gone_from_its_members() {
    let server = Slapd::start(
        &(users(2) + &group_of_names("staff", &[user_dn("u00000"), user_dn("u00001")])),
    );
    let (cfg, dir) = config(&server, Some((ROOT_DN, ROOT_PW)));
    assert_eq!(
        members(&read_as(&server, &cfg, &dir).await.expect("read"), "staff").len(),
        2
    );
    server.modify(&format!(
        "dn: {}\nchangetype: modify\ndelete: member\nmember: {}\n",
        group_dn("staff"),
        user_dn("u00001")
    ));
    let after = read_as(&server, &cfg, &dir).await.expect("read after");
    assert_eq!(members(&after, "staff"), [user_dn("u00000")]);
    assert_eq!(after.users.len(), 2, "the user is still in the directory");
}

#[tokio::test]
async fn a_wrong_password_is_a_bind_diagnostic_without_the_password() {
    let server = Slapd::start(&users(1));
    let wrong = "Wr0ng-Passw0rd-7f3a";
    let (cfg, dir) = config(&server, Some((LIMITED_DN, wrong)));
    let e = read_as(&server, &cfg, &dir)
        .await
        .expect_err("wrong password");
    assert_eq!(code(&e), "roster::ldap::bind");
    let text = rendered(&e);
    assert!(
        text.contains(&format!(
            "bind as {LIMITED_DN} to {} failed: invalidCredentials (rc 49)",
            server.url
        )),
        "{text}"
    );
    assert!(text.contains("wrong bind DN or password"), "{text}");
    for shown in [text, e.to_string(), format!("{e:?}"), format!("{cfg:?}")] {
        assert!(!shown.contains(wrong), "the password leaked: {shown}");
    }
}

#[tokio::test]
async fn an_unreachable_port_is_a_connect_diagnostic() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (cfg, d) = config_at(&format!("ldap://127.0.0.1:{port}"), dir.path(), None);
    let e = read(&cfg, &d, &[], dir.path())
        .await
        .expect_err("nothing listens");
    assert_eq!(code(&e), "roster::ldap::connect");
    let text = rendered(&e);
    assert!(
        text.contains(&format!(
            "cannot connect to ldap://127.0.0.1:{port} (to bind as anonymous)"
        )),
        "{text}"
    );
    assert!(
        text.contains("nothing listens on that host and port"),
        "{text}"
    );
}

#[tokio::test]
async fn plain_ldap_with_a_password_to_a_remote_host_is_refused_before_connecting() {
    let server = Slapd::start("");
    let (mut cfg, dir) = config(&server, Some((LIMITED_DN, LIMITED_PW)));
    cfg.url = "ldap://192.0.2.1".into();
    cfg.connect_timeout = 30;
    // Refused before connecting: no waiting on the 30 s connect timeout.
    let e = fails_within(Duration::from_secs(2), &cfg, &dir, server.dir()).await;
    assert_eq!(code(&e), "roster::ldap::insecure");
    assert!(rendered(&e).contains("refusing to send the password of cn=limited,dc=example,dc=org in clear text to ldap://192.0.2.1"));
}

#[tokio::test]
async fn an_escaped_filter_value_matches_the_literal_entry_only() {
    let tricky = r"a*(b)\c";
    let ldif =
        user("lit", &format!("description: {tricky}")) + &user("other", r"description: aXX(b)\c");
    let server = Slapd::start(&ldif);
    let (mut cfg, dir) = config(&server, None);
    cfg.users = Some(SearchConfig {
        base: Some(PEOPLE.into()),
        filter: Some(format!(
            "(&(objectClass=inetOrgPerson){})",
            equality_filter("description", tricky)
        )),
        scope: None,
    });
    let state = read_as(&server, &cfg, &dir).await.expect("read");
    let uids: Vec<_> = state
        .users
        .iter()
        .filter_map(|u| u.first_text("uid"))
        .collect();
    assert_eq!(uids, ["lit"]);
}

#[tokio::test]
async fn the_disabled_filter_is_evaluated_by_the_server() {
    let ldif = user("gone", "employeeType: disabled") + &user("here", "employeeType: staff");
    let server = Slapd::start(&ldif);
    let (cfg, mut dir) = config(&server, Some((LIMITED_DN, LIMITED_PW)));
    dir.disabled = Some(DisabledRule::Filter("employeeType=disabled".into()));
    let state = read_as(&server, &cfg, &dir).await.expect("read");
    let disabled = state.disabled_by_filter.expect("the filter ran");
    assert_eq!(disabled.into_iter().collect::<Vec<_>>(), [user_dn("gone")]);
}

fn tls_server() -> Slapd {
    Slapd::builder()
        .tls(&["DNS:localhost", "IP:127.0.0.1"])
        .ldif(&users(2))
        .start()
}

#[tokio::test]
async fn ldaps_and_start_tls_verify_against_the_ca_file() {
    let server = tls_server();
    let (mut cfg, dir) = config(&server, Some((LIMITED_DN, LIMITED_PW)));
    cfg.ca_file = Some(server.ca_file());
    cfg.url = server.ldaps_url("localhost");
    assert_eq!(
        read_as(&server, &cfg, &dir)
            .await
            .expect("ldaps")
            .users
            .len(),
        2
    );
    cfg.url = server.url.replace("127.0.0.1", "localhost");
    cfg.start_tls = true;
    assert_eq!(
        read_as(&server, &cfg, &dir)
            .await
            .expect("StartTLS")
            .users
            .len(),
        2
    );
}

#[tokio::test]
async fn an_untrusted_certificate_and_a_name_mismatch_are_refused() {
    let server = Slapd::builder()
        .tls(&["DNS:ldap.example.org"])
        .ldif(&users(1))
        .start();
    let (mut cfg, dir) = config(&server, Some((LIMITED_DN, LIMITED_PW)));
    cfg.url = server.ldaps_url("127.0.0.1");
    let e = read_as(&server, &cfg, &dir)
        .await
        .expect_err("not a system-trusted CA");
    assert_eq!(code(&e), "roster::ldap::connect");
    // Named as the SCIM side names it: the issuer, and what to set.
    let text = crate::cli::flat(&rendered(&e));
    assert!(
        text.contains("the certificate of 127.0.0.1 is issued by `CN=Roster Test CA`, which is not a trusted CA")
            && text.contains("set `directory.ldap.ca_file` to the PEM file of the CA that issued it"),
        "{text}"
    );

    cfg.ca_file = Some(server.ca_file());
    let e = read_as(&server, &cfg, &dir)
        .await
        .expect_err("the certificate is for ldap.example.org");
    let text = crate::cli::flat(&rendered(&e));
    assert!(
        text.contains("the certificate of 127.0.0.1 is not issued for the name `127.0.0.1` (it is for ldap.example.org)"),
        "{text}"
    );
}

#[tokio::test]
async fn start_tls_to_a_server_without_tls_is_a_diagnostic() {
    let server = Slapd::start(&users(1));
    let (mut cfg, dir) = config(&server, None);
    cfg.start_tls = true;
    let e = read_as(&server, &cfg, &dir)
        .await
        .expect_err("no TLS configured on the server");
    assert_eq!(code(&e), "roster::ldap::connect");
    assert!(
        rendered(&e).contains("StartTLS refused"),
        "{}",
        rendered(&e)
    );
}

#[tokio::test]
async fn a_dropped_connection_is_read_again_once_with_a_warning() {
    let (server, proxy, cfg, dir) = behind_relay(|port| CuttingProxy::start(port, 1, 30_000));
    let state = read_as(&server, &cfg, &dir)
        .await
        .expect("the second attempt reads everything");
    assert_eq!(state.users.len(), 1200);
    assert_eq!(proxy.connections(), 2);
    // The clear-text bind to loopback, and the drop.
    assert_eq!(state.warnings.len(), 2, "{:?}", state.warnings);
    assert!(
        state.warnings[1].contains("dropped") && state.warnings[1].contains(&proxy.url()),
        "{:?}",
        state.warnings
    );
}

#[tokio::test]
async fn a_connection_that_drops_twice_is_a_diagnostic() {
    let (server, proxy, cfg, dir) = behind_relay(|port| CuttingProxy::start(port, 2, 30_000));
    let e = read_as(&server, &cfg, &dir)
        .await
        .expect_err("dropped twice");
    let says = format!(
        "the connection to {} (as {LIMITED_DN}) dropped twice while reading users",
        proxy.url()
    );
    assert_diagnostic(&e, "roster::ldap::dropped", &says);
    assert_eq!(proxy.connections(), 2, "one retry, not more");
}

#[tokio::test]
async fn a_streamed_snapshot_cut_by_a_dropped_connection_is_rewritten_whole() {
    let server = Slapd::start(&users(1200));
    let (cfg, dir) = config(&server, Some((LIMITED_DN, LIMITED_PW)));
    let direct = server.dir().join("direct.ldif");
    let counts = DirectorySource::new(&dir, server.dir())
        .snapshot(&[], &direct)
        .await
        .expect("direct snapshot");
    assert_eq!(counts, Some((1200, 0)));

    let proxy = CuttingProxy::start(server.port, 1, 30_000);
    let mut through = cfg.clone();
    through.url = proxy.url();
    let retried = server.dir().join("retried.ldif");
    // Leave a longer file in the way: what the retry does not overwrite must be cut.
    std::fs::write(&retried, "x".repeat(2_000_000)).expect("stale file");
    let through = DirectoryConfig {
        source: SourceConfig::Ldap(through),
        ..dir.clone()
    };
    DirectorySource::new(&through, server.dir())
        .snapshot(&[], &retried)
        .await
        .expect("retried snapshot");
    assert_eq!(proxy.connections(), 2);

    let data = |p: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(p).expect("snapshot");
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(data(&retried), data(&direct));
    let text = std::fs::read_to_string(&retried).expect("snapshot");
    assert!(
        text.contains("# warning: the connection to"),
        "the retry is recorded"
    );
    let src = roster::diag::read_source(&retried).expect("read");
    assert_eq!(
        roster::directory::ldif::classify(roster::directory::ldif::parse(&src).expect("parse"))
            .users
            .len(),
        1200
    );
}

#[tokio::test]
async fn a_server_that_stops_answering_is_a_timeout_diagnostic() {
    let (server, proxy, mut cfg, dir) = behind_relay(|port| CuttingProxy::stalling(port, 30_000));
    cfg.timeout = 1;
    let e = fails_within(Duration::from_secs(5), &cfg, &dir, server.dir()).await;
    let says = format!(
        "no answer from {} (as {LIMITED_DN}) within 1 s while reading users",
        proxy.url()
    );
    assert_diagnostic(&e, "roster::ldap::timeout", &says);
}

#[tokio::test]
async fn a_tls_handshake_that_never_comes_is_a_connect_timeout() {
    // A listener that never accepts: TCP connects (the kernel's backlog), TLS never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut cfg, d) = config_at(&format!("ldaps://127.0.0.1:{port}"), dir.path(), None);
    cfg.connect_timeout = 1;
    let e = fails_within(Duration::from_secs(5), &cfg, &d, dir.path()).await;
    assert_eq!(code(&e), "roster::ldap::connect");
    let text = rendered(&e);
    assert!(
        text.contains("no connection within 1 s") && text.contains("unreachable"),
        "{text}"
    );
}

#[tokio::test]
async fn object_guid_ids_arrive_as_ad_guid_strings() {
    // Recorded objectGUID bytes and the GUID string AD tools show for them.
    let ldif = format!(
        "dn: uid=ad,{PEOPLE}\nobjectClass: inetOrgPerson\nobjectClass: adUser\nuid: ad\ncn: ad\nsn: ad\n\
         sAMAccountName: jdoe\nuserAccountControl: 514\nobjectGUID:: yYuRNW0Z6kCXeYidebdT8A==\n\n"
    );
    let server = Slapd::start(&ldif);
    let (cfg, mut dir) = config(&server, None);
    dir.id_attribute = Some("objectGUID".into());
    dir.username_attribute = Some("sAMAccountName".into());
    dir.disabled = Some(DisabledRule::ActiveDirectory);
    let state = read_as(&server, &cfg, &dir).await.expect("read");
    let u = &state.users[0];
    assert_eq!(
        u.first_text("objectguid"),
        Some("35918bc9-196d-40ea-9779-889d79b753f0")
    );
    assert_eq!(u.first_text("samaccountname"), Some("jdoe"));
    assert_eq!(
        u.first_text("useraccountcontrol"),
        Some("514"),
        "fetched for the AD disabled rule"
    );
    // What `ldapsearch -LLL` writes (`objectGUID:: <base64>`) reads as the same GUID string.
    let exported = ldapsearch(&server, &["(uid=ad)", "objectGUID", "sAMAccountName"]);
    assert!(exported.contains("objectGUID:: "), "{exported}");
    let src = roster::diag::Source::new(Path::new("export.ldif"), exported);
    let offline = roster::directory::ldif::parse(&src).expect("ldapsearch's LDIF reads");
    assert_eq!(
        offline[0].first_text("objectguid"),
        u.first_text("objectguid")
    );
}

#[tokio::test]
async fn a_group_handed_out_in_ranges_as_windows_does_is_read_whole() {
    let n = 3200;
    let mut ldif = users(n);
    let mut all: Vec<String> = (0..n).map(|i| user_dn(&format!("u{i:05}"))).collect();
    ldif += &group_of_names("big", &all);
    ldif += &group_of_names("small", &all[..3]);
    ldif += &group_of_names("outer", &[group_dn("big")]);
    let server = Slapd::start(&ldif);
    let proxy = RangingProxy::start(server.port, WINDOWS_MAX_VALUES);
    let (mut cfg, dir) = config(&server, Some((ROOT_DN, ROOT_PW)));
    cfg.url = proxy.url();
    let state = read_as(&server, &cfg, &dir)
        .await
        .expect("a read through the ranging relay");
    // The relay answered as Windows does: three slices of the big group, the small one whole.
    assert_eq!(
        proxy.sent(),
        [
            "member;range=0-1499",
            "member;range=1500-2999",
            "member;range=3000-*"
        ]
    );
    all.sort();
    assert_eq!(members(&state, "big"), all);
    assert_eq!(members(&state, "small").len(), 3);
    // What the plan makes of it: every member is a user read.
    let groups = roster::directory::groups::Groups::new(&state);
    let resolved = groups.transitive_members([&group_dn("big")]);
    assert_eq!(resolved.len(), n);
    assert!(state
        .users
        .iter()
        .all(|u| resolved.contains(u.dn().to_ascii_lowercase().as_str())));

    // A big group the groups search does not return, nested in a configured one, is read by its
    // DN, ranges and all.
    cfg.groups = Some(SearchConfig {
        base: None,
        filter: Some("(cn=outer)".into()),
        scope: None,
    });
    let outer = group_dn("outer");
    let state =
        roster::directory::ldap::read_resolving(&cfg, &dir, &[], server.dir(), &[outer.as_str()])
            .await
            .expect("a read that follows cn=big");
    assert_eq!(state.groups.len(), 2, "outer, and big read by its DN");
    assert_eq!(members(&state, "big"), all);
    assert_eq!(proxy.sent().len(), 6, "{:?}", proxy.sent());
    assert!(
        !state.warnings.iter().any(|w| w.contains("group `")),
        "{:?}",
        state.warnings
    );
}
