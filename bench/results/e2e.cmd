BENCH_USERS=100000 BENCH_RUNS=3 BENCH_SCIM_USERS=10000 cargo run --release --example bench-e2e
