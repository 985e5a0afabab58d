BENCH_USERS=100000 bench/ldap.sh
