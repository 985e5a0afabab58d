//! Benchmark driver (not a test): Roster's SCIM read and apply against a running server.
//! Run through `bench/scim.sh`, which starts scim2-server and times a plain client too.
//!
//! `scim_bench read|warm URL TOKEN_FILE CACHE_DIR` — read the intranet as `roster plan` does,
//! through the cache in CACHE_DIR (`read`: a cold read, the directory is empty; `warm`: after
//! an earlier `read`), and print `count seconds mode users_fetched same`, where `same` says
//! (checked after the timing) whether the state equals a plain full read's.
//! `scim_bench apply URL TOKEN_FILE N VALUE CONCURRENCY [BULK]` — plan N job_title updates to
//! VALUE and apply them; print `applied seconds`, and `server_cpu_seconds` when SERVER_PID names
//! the server's process (and the writes' summary, with the concurrency, on stderr).
//! `CONCURRENCY`: a number pins it (`1`: one request at a time); `adaptive` or `adaptive:N`
//! learns it, up to N (default: Roster's ceiling). `BULK`: operations per SCIM Bulk request, or
//! `off` for one request per update; without it, apply's default (Bulk when the server announces
//! it, batches of 200).

#[path = "cpu.rs"]
mod cpu;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use roster::intranet::scim::cache::{self, CacheSettings, Refresh};
use roster::intranet::scim::{ClientOptions, ScimClient, Token};
use roster::plan::{Action, Change, FieldChange, Inputs, Plan};

#[tokio::main]
async fn main() -> miette::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = || {
        miette::miette!(
            "usage: scim_bench read|warm URL TOKEN_FILE CACHE_DIR | apply URL TOKEN_FILE N VALUE CONCURRENCY [BULK]"
        )
    };
    let (mode, url, token_file) = match &args[..] {
        [_, mode, url, token, ..] => (mode.as_str(), url.as_str(), token.as_str()),
        _ => return Err(usage()),
    };
    let token =
        std::fs::read_to_string(token_file).map_err(|e| miette::miette!("{token_file}: {e}"))?;
    // Requests in flight: the apply argument, else $CONCURRENCY (reads too), else Roster's default.
    let (concurrency, adaptive) = match args
        .get(6)
        .cloned()
        .or_else(|| std::env::var("CONCURRENCY").ok())
    {
        None => (ClientOptions::default().concurrency, true),
        Some(c) => match c.strip_prefix("adaptive") {
            Some("") => (ClientOptions::default().concurrency, true),
            Some(max) => (
                max.trim_start_matches(':').parse().map_err(|_| usage())?,
                true,
            ),
            None => (c.parse().map_err(|_| usage())?, false),
        },
    };
    let bulk = match args.get(7).map(String::as_str) {
        None => ClientOptions::default().bulk,
        Some("off") => None,
        Some(n) => Some(n.parse().map_err(|_| usage())?),
    };
    let opts = ClientOptions {
        concurrency,
        adaptive,
        bulk,
        timeout: Duration::from_secs(60),
        ..ClientOptions::default()
    };
    let client = ScimClient::new(url, Token::new(token.trim()), &BTreeMap::new(), false, opts)?;
    let fields = vec!["job_title".to_string()];
    if let ("read" | "warm", Some(dir)) = (mode, args.get(4)) {
        let settings = CacheSettings {
            refresh: Refresh::Auto,
            dir: Some(dir.into()),
        };
        let start = Instant::now();
        let caps = client.discover().await?;
        let (state, read) = cache::read_state(&client, &caps, &fields, &settings).await?;
        let seconds = start.elapsed().as_secs_f64();
        let full = client.read_state(&fields, &caps).await?;
        let same = roster::digest::intranet(&state) == roster::digest::intranet(&full);
        println!(
            "{} {seconds:.3} {:?} {} {same}",
            state.accounts.len(),
            read.mode,
            read.users_read
        );
        return Ok(());
    }
    let start = Instant::now();
    let caps = client.discover().await?;
    let state = client.read_state(&fields, &caps).await?;
    match mode {
        "read" => println!(
            "{} {:.3}",
            state.accounts.len(),
            start.elapsed().as_secs_f64()
        ),
        "apply" => {
            let n: usize = args.get(4).and_then(|n| n.parse().ok()).ok_or_else(usage)?;
            let value = args.get(5).ok_or_else(usage)?;
            let mut accounts = state.accounts.clone();
            accounts.sort_by(|a, b| a.username.cmp(&b.username));
            let changes: Vec<Change> = accounts
                .iter()
                .take(n)
                .map(|a| Change {
                    action: Action::Update,
                    username: a.username.clone(),
                    external_id: a.external_id.clone(),
                    intranet_id: Some(a.id.clone()),
                    etag: a.etag.clone(),
                    fields: vec![FieldChange {
                        name: "job_title".into(),
                        before: a.fields.get("job_title").map(str::to_owned),
                        after: Some(value.clone()),
                        origin: None,
                    }],
                    role: None,
                    reason: "benchmark".into(),
                })
                .collect();
            let plan = Plan::new(Inputs::default(), vec![], changes);
            // With SERVER_PID, the server's own CPU time during the apply alone is printed too.
            let server: Option<u32> = std::env::var("SERVER_PID")
                .ok()
                .and_then(|p| p.parse().ok());
            let cpu0 = server.map(cpu::cpu_seconds);
            let start = Instant::now();
            let target = roster::intranet::scim::target::ScimTarget::new(
                client.clone(),
                caps.clone(),
                fields.clone(),
            );
            let report = roster::apply::apply(&target, &plan, &state).await;
            let wall = start.elapsed().as_secs_f64();
            print!("{} {wall:.3}", report.count("applied"));
            if let (Some(pid), Some(cpu0)) = (server, cpu0) {
                print!(" {:.3}", cpu::cpu_seconds(pid) - cpu0);
            }
            println!();
            eprintln!("writes: {}", client.writes_summary().describe());
        }
        _ => return Err(usage()),
    }
    Ok(())
}
