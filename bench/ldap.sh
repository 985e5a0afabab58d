#!/usr/bin/env bash
# Benchmark: `roster snapshot directory` vs `ldapsearch -E pr=1000` on 100,000 users in a private
# slapd (BENCH_USERS to change the count). Needs slapd and ldap-utils (scripts/test installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin roster
exec cargo run --release --locked --example bench-ldap
