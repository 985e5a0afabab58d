USERS=100000 RUNS=5 bench/entra.sh
