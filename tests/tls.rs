//! HTTPS to the intranet with a private CA: an HTTPS front on 127.0.0.1 (its certificate from a
//! CA made in the test) before the scim2-server harness. Without `ca_file` the certificate is
//! refused with its issuer named; `ca_file` or `SSL_CERT_FILE` makes the plan work; a wrong CA
//! or a wrong name says so.

use std::path::Path;

use crate::cli::{flat, roster_env, Run};
use crate::support::scim::{ScimServer, TOKEN};
use crate::support::tls::{other_ca, TlsFront};

const LDIF: &str = "version: 1\n\n\
dn: uid=ada,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: ada\ncn: Ada\nsn: L\nmail: ada@example.com\nentryUUID: 0b6c3a52-1111-4c8e-9a55-0000000000a1\n\n\
dn: cn=staff,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: staff\nmember: uid=ada,ou=people,dc=example,dc=com\nentryUUID: 0b6c3a52-1111-4c8e-9a55-0000000000f1\n";

/// A config folder reading the LDIF above and the intranet at `url`, with `ca_file` if given.
fn site(url: &str, ca_file: Option<&Path>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("directory.ldif"), LDIF).unwrap();
    let ca = match ca_file {
        Some(p) => {
            std::fs::copy(p, dir.path().join("intranet-ca.pem")).unwrap();
            "    ca_file: intranet-ca.pem\n"
        }
        None => "",
    };
    std::fs::write(
        dir.path().join("roster.yaml"),
        format!(
            "version: 1\ndirectory:\n  ldif: directory.ldif\n  id_attribute: entryUUID\n\
             intranet:\n  scim:\n    url: {url}\n    token: {{ env: ROSTER_SCIM_TOKEN }}\n    cache: false\n{ca}\
             syncing_groups: [\"cn=staff,ou=groups,dc=example,dc=com\"]\nfield_mappings:\n  email: mail\n"
        ),
    )
    .unwrap();
    dir
}

/// `roster plan --format json` in `dir`; `SSL_CERT_FILE` only as given.
fn plan(dir: &Path, ssl_cert_file: Option<&Path>) -> Run {
    let args = ["plan", "--format", "json"];
    let token = ("ROSTER_SCIM_TOKEN", TOKEN);
    match ssl_cert_file.and_then(Path::to_str) {
        Some(f) => roster_env(dir, &args, &[token, ("SSL_CERT_FILE", f)]),
        None => roster_env(dir, &args, &[token]),
    }
}

fn creates(run: &Run) -> Vec<String> {
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("a JSON plan");
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "create")
        .map(|c| c["username"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_private_ca_is_refused_with_its_issuer_named_until_ca_file_or_ssl_cert_file_trusts_it() {
    let scim = ScimServer::start();
    let front = TlsFront::start(scim.port, &["IP:127.0.0.1"]);
    let url = front.url("/v2");

    // (a) The system roots do not hold the private CA: refused, the issuer named, ca_file said.
    let gets = scim.logged("GET");
    let dir = site(&url, None);
    let run = plan(dir.path(), None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let err = flat(&run.stderr);
    assert!(err.contains("roster::scim::certificate"), "{err}");
    assert!(
        err.contains("the certificate of 127.0.0.1 is issued by `CN=Roster Test CA`, which is not a trusted CA"),
        "{err}"
    );
    assert!(
        err.contains("set `intranet.scim.ca_file` to the PEM file of the CA that issued it"),
        "{err}"
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // Nothing reached the service, and the refusal was not retried as a network failure.
    assert_eq!(scim.logged("GET"), gets);
    assert_eq!(front.connections(), 1);

    // (b) ca_file: the plan works through HTTPS.
    let dir = site(&url, Some(&front.ca_file()));
    let run = plan(dir.path(), None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(creates(&run), ["ada"]);

    // (c) SSL_CERT_FILE naming the CA, no ca_file: works too.
    let dir = site(&url, None);
    let run = plan(dir.path(), Some(&front.ca_file()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(creates(&run), ["ada"]);

    // (d) A ca_file of another CA: refused, naming the issuer the server presented.
    let other = tempfile::tempdir().unwrap();
    let dir = site(&url, Some(&other_ca(other.path())));
    let run = plan(dir.path(), None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let err = flat(&run.stderr);
    assert!(
        err.contains("is issued by `CN=Roster Test CA`, which is not a trusted CA"),
        "{err}"
    );
    assert!(err.contains("intranet.scim.ca_file"), "{err}");
}

#[test]
fn an_expired_certificate_says_when_it_expired() {
    let scim = ScimServer::start();
    let front = TlsFront::start_expired(scim.port, &["IP:127.0.0.1"]);
    let dir = site(&front.url("/v2"), Some(&front.ca_file()));
    let run = plan(dir.path(), None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let err = flat(&run.stderr);
    assert!(
        err.contains("the certificate of 127.0.0.1 expired on 2020-01-02T00:00:00Z")
            && err.contains("the certificate must be renewed on the server"),
        "{err}"
    );
    assert!(run.stdout.is_empty(), "no plan: {}", run.stdout);
}

#[test]
fn a_certificate_for_another_name_says_which_names_it_holds() {
    let scim = ScimServer::start();
    let front = TlsFront::start(scim.port, &["DNS:intranet.example.com"]);
    let dir = site(&front.url("/v2"), Some(&front.ca_file()));
    let run = plan(dir.path(), None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let err = flat(&run.stderr);
    assert!(
        err.contains(
            "the certificate of 127.0.0.1 is not issued for the name `127.0.0.1` (it is for"
        ),
        "{err}"
    );
    assert!(err.contains("intranet.example.com"), "{err}");
    assert!(
        err.contains("an IP address needs an IP entry in its subjectAltName"),
        "{err}"
    );
}
