#!/usr/bin/env bash
# Benchmark (not a test): reading Entra ID users over Microsoft Graph, Roster against a plain
# sequential client, on the same local Graph-shaped server (tests/support/graph_server.py, with
# USERS generated users and one group "All staff" holding them all) in the same run.
#   Roster:     `roster validate` of a config naming "All staff": signs in, reads every user
#               ($select of the 6 properties the config needs, $top=999, @odata.nextLink,
#               $count checked) and the group's transitiveMembers, the next page fetched while
#               the last is parsed, users and members at once; no cache (a cold read).
#   sequential: Python's urllib, one request after the other: the token, then the same users
#               pages and the same members pages following @odata.nextLink, each parsed.
# After one untimed warm-up read, RUNS alternating runs of each; prints one line per run and
# the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-100000}
RUNS=${RUNS:-3}

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 tests/support/graph_server.py --port "$port" --generate "$USERS" >"$work/server.out" 2>"$work/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do grep -q ready "$work/server.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/server.out" || { echo "the Graph-shaped server did not start" >&2; exit 1; }

cargo build -q --release --locked --bin roster
roster=${CARGO_TARGET_DIR:-$PWD/target}/release/roster

printf 'bench-secret\n' >"$work/secret"
cat >"$work/intranet.json" <<'JSON'
{"users":{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]},
 "groups":{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]}}
JSON
cat >"$work/roster.yaml" <<YAML
version: 1
directory:
  entra:
    tenant_id: bench-tenant
    client_id: bench-client
    client_secret: { file: secret }
    authority: http://127.0.0.1:$port
    graph_url: http://127.0.0.1:$port/v1.0
    cache: false
intranet:
  snapshot: intranet.json
syncing_groups: [All staff]
field_mappings:
  email: mail
  first_name: givenName
  surname: surname
  department: department
YAML

cat >"$work/sequential.py" <<'PY'
import json, sys, urllib.parse, urllib.request
base = sys.argv[1]
form = urllib.parse.urlencode({"client_id": "bench-client", "client_secret": "bench-secret",
    "scope": base + "/.default", "grant_type": "client_credentials"}).encode()
with urllib.request.urlopen(base + "/bench-tenant/oauth2/v2.0/token", data=form) as r:
    token = json.loads(r.read())["access_token"]
H = {"Authorization": "Bearer " + token, "ConsistencyLevel": "eventual"}
def pages(url):
    n = 0
    while url:
        with urllib.request.urlopen(urllib.request.Request(url, headers=H), timeout=120) as r:
            page = json.loads(r.read())
        n += len(page["value"])
        url = page.get("@odata.nextLink")
    return n
users = pages(base + "/v1.0/users?$select=id,userPrincipalName,accountEnabled,department,givenName,mail,surname&$top=999&$count=true")
members = pages(base + "/v1.0/groups/00000000-0000-0000-0000-0000000a11ed/transitiveMembers/microsoft.graph.user?$select=id&$top=999")
assert users == members, (users, members)
print(users)
PY

# One untimed read first: the server works out the group's members once, on the first request.
python3 "$work/sequential.py" "http://127.0.0.1:$port" >/dev/null

echo "started: $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
now() { date +%s.%N; }
roster_times=() seq_times=()
for i in $(seq 1 "$RUNS"); do
    t0=$(now)
    out=$("$roster" validate --config "$work/roster.yaml" 2>&1) || { echo "roster failed: $out" >&2; exit 1; }
    t1=$(now)
    case "$out" in *"($USERS syncing users)"*) ;; *) echo "roster did not read $USERS users: $out" >&2; exit 1 ;; esac
    n=$(python3 "$work/sequential.py" "http://127.0.0.1:$port")
    t2=$(now)
    [ "$n" = "$USERS" ] || { echo "the sequential client read $n users" >&2; exit 1; }
    r=$(echo "$t1 - $t0" | bc -l); s=$(echo "$t2 - $t1" | bc -l)
    roster_times+=("$r"); seq_times+=("$s")
    printf 'run %d: roster %.3f s, sequential %.3f s\n' "$i" "$r" "$s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mr=$(median "${roster_times[@]}"); ms=$(median "${seq_times[@]}")
printf 'entra read: users=%d runs=%d roster_s=%.3f sequential_s=%.3f ratio=%.2f\n' \
    "$USERS" "$RUNS" "$mr" "$ms" "$(echo "$ms / $mr" | bc -l)"
