#!/usr/bin/env python3
"""Seed the two "intranets" of the end-to-end benchmark from one SCIM snapshot (bench/gen.rs's
intranet.json), so that Roster and ldap2pg start from the same accounts:

  e2e_seed.py scim URL TOKEN_FILE intranet.json LIMIT
      POST the first LIMIT users to a SCIM 2.0 server in Bulk requests of 1,000, then the groups
      (members translated to the server's new ids). Prints "users seconds".
  e2e_seed.py sql intranet.json LIMIT
      Print SQL creating one PostgreSQL role per account (LOGIN, its title as the comment), and for each group a NOLOGIN
      role (lower-cased displayName) granted to its members: the same accounts and role drift.
"""
import json
import sys
import time
import urllib.request

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def load(path, limit):
    with open(path) as f:
        doc = json.load(f)
    users = doc["users"]["Resources"][:limit]
    kept = {u["id"] for u in users}
    groups = []
    for g in doc["groups"]["Resources"]:
        groups.append({"displayName": g["displayName"],
                       "members": [m["value"] for m in g.get("members", []) if m["value"] in kept]})
    return users, groups


def scim(url, token_file, path, limit):
    token = open(token_file).read().strip()
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"}

    def call(method, where, body):
        req = urllib.request.Request(url + "/" + where, method=method, headers=headers,
                                     data=json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read() or b"null")

    for _ in range(300):
        try:
            urllib.request.urlopen(urllib.request.Request(
                url + "/ServiceProviderConfig", headers=headers), timeout=5).read()
            break
        except Exception:
            time.sleep(0.1)
    else:
        sys.exit("scim2-server did not start")

    users, groups = load(path, limit)
    started = time.perf_counter()
    new_id = {}
    for base in range(0, len(users), 1000):
        ops = []
        for u in users[base:base + 1000]:
            data = {k: v for k, v in u.items() if k not in ("id", "meta")}
            data["schemas"] = [USER] + ([ENTERPRISE] if ENTERPRISE in data else [])
            ops.append({"method": "POST", "path": "/Users", "bulkId": u["id"], "data": data})
        r = call("POST", "Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                                  "Operations": ops})
        for op in r["Operations"]:
            if op["status"] != "201":
                sys.exit(f"bulk POST failed: {op}")
            new_id[op["bulkId"]] = op["location"].rstrip("/").rsplit("/", 1)[1]
    for g in groups:
        call("POST", "Groups", {"schemas": [GROUP], "displayName": g["displayName"],
                                "members": [{"value": new_id[m]} for m in g["members"]]})
    print(len(users), f"{time.perf_counter() - started:.3f}")


def sql(path, limit):
    users, groups = load(path, limit)
    name = {u["id"]: u["userName"] for u in users}
    out = sys.stdout
    out.write("BEGIN;\n")
    for u in users:
        out.write(f'CREATE ROLE "{u["userName"]}" LOGIN;\n')
        title = u.get("title", "").replace("'", "''")
        out.write(f'COMMENT ON ROLE "{u["userName"]}" IS \'{title}\';\n')
    for g in groups:
        role = g["displayName"].lower()
        out.write(f'CREATE ROLE "{role}" NOLOGIN;\n')
        if g["members"]:
            out.write(f'GRANT "{role}" TO ' + ", ".join(f'"{name[m]}"' for m in g["members"]) + ";\n")
    out.write("COMMIT;\n")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "scim":
        scim(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif mode == "sql":
        sql(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
