#!/usr/bin/env bash
# Benchmark (not a test): SCIM writes over a wide-area link. A hosted intranet is 10-100 ms away
# from a CI runner; here a delay proxy on 127.0.0.1 (bench/widearea.py proxy: RTT ms round trip,
# every byte delayed, a new connection paying its handshake) stands in front of a private
# scim2-server. UPDATES users are seeded, then, in one run, the same UPDATES one-field PATCHes
# (title) are sent by:
#   a. a plain sequential client (Python urllib) through the link;
#   b. Roster's apply without Bulk, adaptive concurrency (the default), through the link;
#   c. Roster's apply without Bulk, concurrency pinned to 1, through the link;
#   d. Roster's apply with Bulk (its default), through the link;
# b and e run REPEAT times (e alternating adaptive and 1, as the machine's load drifts); the
# medians are reported.
#   e. Roster's apply without Bulk straight to scim2-server: adaptive and pinned to 1 (the
#      "never slower than one at a time" check against a server that runs one request at a time),
#      and the plain client straight too, for the server's own time per request.
# Each run writes a new value and every user is read back after it: zero lost writes is checked.
# Prints one `key value...` line per figure for bench/report.py, then a summary. Needs
# scim2-server (pip) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATES=${UPDATES:-300}
RTT=${RTT:-20}   # ms, round trip
CEILING=${CEILING:-}   # adaptive up to this; empty: Roster's default
REPEAT=${REPEAT:-3}    # runs of b and of e (alternating adaptive and 1); medians reported

work=$(mktemp -d)
token=bench-token-$RANDOM$RANDOM
printf '%s\n' "$token" >"$work/token"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
scim2-server --hostname 127.0.0.1 --port "$port" --bearer-token "$token" 2>"$work/server.log" &
server=$!
export SERVER_PID=$server
proxy_port=$(free_port)
python3 bench/widearea.py proxy "$proxy_port" "$port" "$(python3 -c "print($RTT / 2)")" >"$work/proxy.out" &
proxy=$!
trap 'kill "$server" "$proxy" 2>/dev/null || true; rm -rf "$work"' EXIT

# PROFILE=debug reuses a debug build (the link, not the client's CPU, is what this measures).
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then cargo build -q --release --locked --example scim_bench; else cargo build -q --locked --example scim_bench; fi
bench=${CARGO_TARGET_DIR:-target}/$PROFILE/examples/scim_bench

direct="http://127.0.0.1:$port/v2"
linked="http://127.0.0.1:$proxy_port/v2"
plain() { local mode=$1 url=$2; shift 2; python3 bench/widearea.py "$mode" "$url" "$work/token" "$@"; }
plain wait "$direct"
for _ in $(seq 50); do grep -q ready "$work/proxy.out" && break; sleep 0.1; done
plain wait "$linked"
plain seed "$direct" "$UPDATES"

# SYNs the kernel dropped because a listen queue was full (all sockets of the machine: a run of
# this benchmark alone makes them; scim2-server's queue holds 5 connections, socketserver's
# request_queue_size). A dropped SYN is resent after a second.
drops() { awk 'NR % 2 == 1 { for (i = 1; i <= NF; i++) h[i] = $i } NR % 2 == 0 { for (i = 1; i <= NF; i++) if (h[i] == "ListenDrops") print $i }' /proc/net/netstat; }

# roster VALUE URL CONCURRENCY [BULK] → "seconds listen_drops summary"; checks that every write
# landed.
roster() {
    local value=$1 out summary d0
    shift
    d0=$(drops)
    out=$("$bench" apply "$1" "$work/token" "$UPDATES" "$value" "$2" ${3:+"$3"} 2>"$work/summary")
    summary=$(sed -n 's/^writes: //p' "$work/summary")
    read -r applied seconds _ <<<"$out"
    lost=$(plain check "$direct" "$UPDATES" "$value")
    [ "$applied" = "$UPDATES" ] && [ "$lost" = 0 ] || { echo "roster $*: applied $applied/$UPDATES, lost $lost" >&2; exit 1; }
    echo "$seconds $(($(drops) - d0)) $summary"
}
# sequential VALUE URL → "seconds server_cpu_seconds listen_drops"
sequential() {
    local value=$1 n seconds cpu d0
    d0=$(drops)
    read -r n seconds cpu < <(plain apply "$2" "$UPDATES" "$value")
    lost=$(plain check "$direct" "$UPDATES" "$value")
    [ "$n" = "$UPDATES" ] && [ "$lost" = 0 ] || { echo "plain: $n/$UPDATES, lost $lost" >&2; exit 1; }
    echo "$seconds $cpu $(($(drops) - d0))"
}
adaptive=adaptive${CEILING:+:$CEILING}

# The median run's line of several `roster` results (sorted by seconds).
median() { sort -n | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'; }
read -r t_plain _ d_plain < <(sequential a "$linked")
read -r t_adaptive d_adaptive s_adaptive < <(for i in $(seq "$REPEAT"); do roster "b$i" "$linked" "$adaptive" off; done | median)
read -r t_one d_one s_one < <(roster c "$linked" 1 off)
read -r t_bulk d_bulk s_bulk < <(roster d "$linked" "$adaptive")
read -r t_plain_direct cpu_plain_direct d_plain_direct < <(sequential e1 "$direct")
: >"$work/e_adaptive"; : >"$work/e_one"
for i in $(seq "$REPEAT"); do
    roster "e2$i" "$direct" "$adaptive" off >>"$work/e_adaptive"
    roster "e3$i" "$direct" 1 off >>"$work/e_one"
done
read -r t_adaptive_direct d_adaptive_direct s_adaptive_direct < <(median <"$work/e_adaptive")
read -r t_one_direct d_one_direct s_one_direct < <(median <"$work/e_one")
# SWEEP="4 8 16": the same PATCHes at each fixed concurrency, through the link and straight.
sweep=()
for c in ${SWEEP:-}; do
    read -r t d _ < <(roster "f$c" "$linked" "$c" off)
    read -r td dd _ < <(roster "g$c" "$direct" "$c" off)
    sweep+=("widearea_fixed $c $t $d $td $dd")
done

cat <<EOF
widearea_rtt_ms $RTT
widearea_updates $UPDATES
widearea_plain $t_plain $d_plain
widearea_adaptive $t_adaptive $d_adaptive $s_adaptive
widearea_one $t_one $d_one $s_one
widearea_bulk $t_bulk $d_bulk $s_bulk
widearea_plain_direct $t_plain_direct $d_plain_direct
widearea_adaptive_direct $t_adaptive_direct $d_adaptive_direct $s_adaptive_direct
widearea_one_direct $t_one_direct $d_one_direct $s_one_direct
widearea_server_cpu_per_request_ms $(python3 -c "print(f'{$cpu_plain_direct / $UPDATES * 1e3:.2f}')")
EOF
for line in "${sweep[@]}"; do echo "$line"; done
python3 - "$UPDATES" "$RTT" "$t_plain" "$t_adaptive" "$t_one" "$t_bulk" "$t_plain_direct" "$t_adaptive_direct" "$t_one_direct" "$cpu_plain_direct" <<'PY' >&2
import sys
n, rtt = int(sys.argv[1]), sys.argv[2]
plain, adaptive, one, bulk, plain_d, adaptive_d, one_d, cpu = map(float, sys.argv[3:])
print(f"\n{n} one-field PATCHes (b and e: medians) over a {rtt} ms link (scim2-server behind a delay proxy):")
print(f"  a. plain sequential client   {plain:7.2f}s  {n / plain:6.0f}/s")
print(f"  b. roster, adaptive, no Bulk {adaptive:7.2f}s  {n / adaptive:6.0f}/s  {plain / adaptive:5.1f}x  (target >= 8x)")
print(f"  c. roster, concurrency 1     {one:7.2f}s  {n / one:6.0f}/s  {plain / one:5.1f}x")
print(f"  d. roster, Bulk              {bulk:7.2f}s  {n / bulk:6.0f}/s  {plain / bulk:5.1f}x")
print("straight to scim2-server (no link):")
print(f"  plain sequential client      {plain_d:7.2f}s  {n / plain_d:6.0f}/s; the server's own CPU per PATCH {cpu / n * 1e3:.2f} ms")
print(f"  e. roster, adaptive, no Bulk {adaptive_d:7.2f}s  {n / adaptive_d:6.0f}/s  vs concurrency 1 {one_d:.2f}s: {one_d / adaptive_d:.2f}x (target >= 1x)")
print("(the key/value lines: seconds, SYNs dropped at a full listen queue during the run, Roster's write summary)")
PY
