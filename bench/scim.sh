#!/usr/bin/env bash
# Benchmark (not a test): Roster's SCIM client against a plain sequential client, on a private
# scim2-server at 127.0.0.1.
#   read:  10,000 users — Roster (page size from the server, the remaining pages at CONCURRENCY,
#          attributes= limited to what a plan needs) vs sequential paging of full resources.
#          Cold: no cache (Roster reads everything and writes its cache). Warm: after a plain
#          client changed CHURN users (5% by default: PATCH title), Roster's delta read through
#          the cache (meta.lastModified ge ..., merged, checked against the count), vs the same
#          sequential full read; Roster's result is checked against a full read (untimed).
#   apply: 2,000 updates — Roster apply (its default: SCIM Bulk requests, as scim2-server
#          announces Bulk, each operation with its ETag as version; CONCURRENCY) vs
#          sequential single PATCHes.
# Checks zero lost writes by reading every user back. Needs scim2-server (pip) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-10000}
UPDATES=${UPDATES:-2000}
# scim2-server runs one request at a time (Python, one interpreter lock): concurrent requests only
# queue behind each other and slow it down, so Roster is set to 1, as an admin would for such a
# server. CONCURRENCY=4 (Roster's default) measures the default.
CONCURRENCY=${CONCURRENCY:-1}
export CONCURRENCY
CHURN=${CHURN:-$((USERS / 20))}
BULK=${BULK:-}   # apply: operations per Bulk request, or `off`; empty: Roster's default

work=$(mktemp -d)
token=bench-token-$RANDOM$RANDOM
printf '%s\n' "$token" >"$work/token"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port/v2"
scim2-server --hostname 127.0.0.1 --port "$port" --bearer-token "$token" 2>"$work/server.log" &
server=$!
# The server's own CPU time is measured around each apply (by both clients) through /proc.
export SERVER_PID=$server
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build -q --release --example scim_bench
bench=target/release/examples/scim_bench

# The plain client: Python's urllib, one request after the other.
cat >"$work/plain.py" <<'PY'
import json, os, sys, time, urllib.request
url, token, mode = sys.argv[1], open(sys.argv[2]).read().strip(), sys.argv[3]
def server_cpu():
    with open(f"/proc/{os.environ['SERVER_PID']}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
H = {"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"}
def call(method, path, body=None):
    req = urllib.request.Request(url + "/" + path, method=method, headers=H,
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=60) as r:
        data = r.read()
        return json.loads(data) if data else None
def read_all():
    out, start = [], 1
    while True:
        page = call("GET", f"Users?startIndex={start}&count=1000")
        items = page.get("Resources", [])
        if not items:
            return out
        out.extend(items); start += len(items)
if mode == "wait":
    for _ in range(200):
        try: call("GET", "ServiceProviderConfig"); sys.exit(0)
        except Exception: time.sleep(0.1)
    sys.exit("server did not start")
elif mode == "seed":
    n = int(sys.argv[4])
    for base in range(0, n, 1000):
        ops = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"user{i:06}",
            "externalId": f"ext-{i}", "title": "Seeded", "displayName": f"User {i}",
            "name": {"givenName": "User", "familyName": str(i)},
            "emails": [{"type": "work", "value": f"user{i}@example.org", "primary": True}]}}
            for i in range(base, min(n, base + 1000))]
        r = call("POST", "Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
        assert all(o["status"] == "201" for o in r["Operations"])
elif mode == "touch":
    u = call("GET", "Users?startIndex=1&count=1")["Resources"][0]
    call("PATCH", "Users/" + u["id"], {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
         "Operations": [{"op": "replace", "path": "title", "value": "Touched"}]})
elif mode == "churn":
    n = int(sys.argv[4])
    users = sorted(read_all(), key=lambda u: u["userName"])
    step = max(1, len(users) // max(n, 1))
    for u in users[::step][:n]:
        call("PATCH", "Users/" + u["id"], {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "title", "value": "Churn"}]})
    print(min(n, len(users[::step])))
elif mode == "read":
    t = time.perf_counter(); users = read_all()
    print(len(users), f"{time.perf_counter() - t:.3f}")
elif mode == "apply":
    n, value = int(sys.argv[4]), sys.argv[5]
    users = sorted(read_all(), key=lambda u: u["userName"])[:n]
    cpu, t = server_cpu(), time.perf_counter()
    for u in users:
        call("PATCH", "Users/" + u["id"], {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "title", "value": value}]})
    print(n, f"{time.perf_counter() - t:.3f}", f"{server_cpu() - cpu:.3f}")
elif mode == "check":
    n, value = int(sys.argv[4]), sys.argv[5]
    users = sorted(read_all(), key=lambda u: u["userName"])
    lost = sum(1 for u in users[:n] if u.get("title") != value)
    print(lost)
PY
plain() { python3 "$work/plain.py" "$url" "$work/token" "$@"; }

plain wait
echo "seeding $USERS users..."
plain seed "$USERS"

# The seed is one burst; a real intranet's newest change is some time back. Let the seed age past
# the delta read's safety margin (5 s) and change one user, as the last edit before the cold read.
sleep 6
plain touch

read -r n_plain t_plain < <(plain read)
read -r n_roster t_roster mode_cold _ _ < <("$bench" read "$url" "$work/token" "$work/cache")
[ "$n_plain" = "$USERS" ] && [ "$n_roster" = "$USERS" ] || { echo "read counts differ: plain $n_plain roster $n_roster" >&2; exit 1; }
churned=$(plain churn "$CHURN")
read -r n_warm t_warm mode_warm fetched_warm same_warm < <("$bench" warm "$url" "$work/token" "$work/cache")
[ "$n_warm" = "$USERS" ] && [ "$same_warm" = true ] || { echo "warm read differs from a full read: $n_warm users, same=$same_warm" >&2; exit 1; }

read -r a_plain ta_plain cpu_plain < <(plain apply "$UPDATES" "Plain")
lost_plain=$(plain check "$UPDATES" "Plain")
read -r a_roster ta_roster cpu_roster < <("$bench" apply "$url" "$work/token" "$UPDATES" "Roster" "$CONCURRENCY" ${BULK:+"$BULK"})
lost_roster=$(plain check "$UPDATES" "Roster")

python3 - "$USERS" "$t_plain" "$t_roster" "$UPDATES" "$ta_plain" "$ta_roster" "$a_roster" "$lost_plain" "$lost_roster" "$t_warm" "$churned" "$mode_warm" "$fetched_warm" "$cpu_plain" "$cpu_roster" <<'PY'
import sys
users, tp, tr, upd, tap, tar, applied, lostp, lostr, tw, churned, mode_warm, fetched, cp, cr = sys.argv[1:]
tp, tr, tap, tar, tw, cp, cr = map(float, (tp, tr, tap, tar, tw, cp, cr))
print(f"read  {users} users:   plain sequential {tp:.2f}s   roster {tr:.2f}s   speed-up {tp/tr:.1f}x (target >= 2x)")
print(f"warm  {users} users, {churned} changed:   plain sequential {tp:.2f}s   roster {tw:.2f}s   speed-up {tp/tw:.1f}x "
      f"(target >= 2x; roster {mode_warm.lower()}, {fetched} users fetched)")
print(f"apply {upd} updates: plain sequential {tap:.2f}s   roster {tar:.2f}s   speed-up {tap/tar:.1f}x (target >= 4x)")
print(f"apply server CPU per update: plain {cp / int(upd) * 1e3:.2f} ms, roster {cr / int(upd) * 1e3:.2f} ms")
print(f"roster applied {applied}/{upd}; lost writes: plain {lostp}, roster {lostr}")
PY
