//! The SCIM client, apply and audit against a real scim2-server.

use std::collections::BTreeMap;
use std::time::Duration;

use roster::intranet::scim::{ClientOptions, Endpoint, ScimClient, ScimError, Token};
use serde_json::json;

use crate::support::scim::{user, ScimServer, ENTERPRISE, TOKEN};

fn client_for(url: &str, token: &str) -> ScimClient {
    let opts = ClientOptions {
        retries: 1,
        backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(20),
        ..ClientOptions::default()
    };
    ScimClient::new(url, Token::new(token), &BTreeMap::new(), false, opts).expect("client")
}

fn client(server: &ScimServer) -> ScimClient {
    client_for(&server.url(), TOKEN)
}

fn fields(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn discovery_reads_service_provider_config() {
    let server = ScimServer::start();
    let caps = client(&server).discover().await.expect("discover");
    assert!(caps.patch && caps.etag && caps.bulk && caps.filter && caps.enterprise);
    assert_eq!(caps.max_results, Some(1000));
}

#[tokio::test]
async fn reads_past_the_page_cap_completely() {
    let server = ScimServer::start();
    let users: Vec<_> = (0..2345)
        .map(|i| {
            let mut u = user(&format!("user{i:05}"), Some(&format!("ext-{i}")));
            u["emails"] = json!([{"type": "work", "value": format!("u{i}@example.org")}]);
            u
        })
        .collect();
    server.seed_users(&users);
    let c = client(&server);
    let caps = c.discover().await.unwrap();
    // Ask for more than the cap: paging must follow the server's real page size.
    let all = c
        .list_all(Endpoint::Users, &[], Some(5000))
        .await
        .expect("list");
    assert_eq!(all.len(), 2345);
    let state = c
        .read_state(&fields(&["email"]), &caps)
        .await
        .expect("state");
    assert_eq!(state.accounts.len(), 2345);
    let mut names: Vec<_> = state.accounts.iter().map(|a| a.username.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 2345);
    let a = state
        .accounts
        .iter()
        .find(|a| a.username == "user01234")
        .unwrap();
    assert_eq!(
        a.fields.get("email").map(String::as_str),
        Some("u1234@example.org")
    );
    assert_eq!(a.external_id.as_deref(), Some("ext-1234"));
    assert!(a.etag.as_deref().is_some_and(|e| e.starts_with("W/")));
}

#[tokio::test]
async fn wrong_token_is_a_diagnostic_without_the_token() {
    let server = ScimServer::start();
    let err = client_for(&server.url(), "not-the-token-9z")
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScimError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("not-the-token-9z") && !shown.contains(TOKEN));
    let d: &dyn miette::Diagnostic = &err;
    assert_eq!(d.code().unwrap().to_string(), "roster::scim::unauthorized");
    assert!(d.help().unwrap().to_string().contains("token"));
}

#[tokio::test]
async fn unreachable_server_is_a_diagnostic() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v2");
    let err = client_for(&url, "t").discover().await.unwrap_err();
    let ScimError::Unreachable { url: u, what } = &err else {
        panic!("{err:?}")
    };
    assert!(u.contains(&port.to_string()));
    assert!(what.contains("connect"), "{what}");
    let d: &dyn miette::Diagnostic = &err;
    assert_eq!(d.code().unwrap().to_string(), "roster::scim::unreachable");
}

#[tokio::test]
async fn missing_enterprise_schema_is_a_diagnostic() {
    let server = ScimServer::start_without_enterprise();
    let c = client(&server);
    let caps = c.discover().await.unwrap();
    assert!(!caps.enterprise);
    let err = c
        .read_state(&fields(&["email", "department"]), &caps)
        .await
        .unwrap_err();
    assert!(matches!(err, ScimError::SchemaMissing { .. }), "{err:?}");
    assert!(err.to_string().contains(ENTERPRISE) && err.to_string().contains("department"));
    // Without enterprise fields the same server reads fine.
    assert!(c.read_state(&fields(&["email"]), &caps).await.is_ok());
}

#[tokio::test]
async fn snapshot_form_round_trips_through_the_snapshot_reader() {
    let server = ScimServer::start();
    let ids = server.seed_users(&[user("ada", Some("e1")), user("bob", None)]);
    server.create_group("admins", &[&ids[0]]);
    let c = client(&server);
    let caps = c.discover().await.unwrap();
    let snap = c.snapshot(&caps).await.unwrap();
    let src = roster::diag::Source::new(std::path::Path::new("intranet.json"), snap.to_string());
    let res = roster::intranet::snapshot::parse_snapshot(&src).expect("snapshot parses");
    let from_file = roster::intranet::snapshot::state_from_resources(&res.users, &res.groups, &[]);
    let live = c.read_state(&[], &caps).await.unwrap();
    assert_eq!(from_file, live);
    assert_eq!(live.groups[0].members, vec![ids[0].clone()]);
}
