#!/usr/bin/env python3
"""A small Microsoft Graph-shaped HTTP server for Roster's Entra ID tests and benchmark.

There is no Entra ID emulator, so Roster's Entra source is tested against this server. Its
requests and answers follow Microsoft's published documentation and examples: field names and
casing, paging, counts, error bodies and status codes. Where each comes from:

- Token endpoint, client credentials grant (POST /{tenant}/oauth2/v2.0/token, form fields
  client_id, scope=<resource>/.default, client_secret, grant_type=client_credentials; success
  {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": ...};
  errors {"error": "invalid_client", "error_description": "AADSTS7000215: ...", "error_codes":
  [7000215], "timestamp", "trace_id", "correlation_id", "error_uri"}):
  https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
  AADSTS7000222 (expired secret), AADSTS7000215 (invalid secret), AADSTS90002 (tenant not found):
  https://learn.microsoft.com/entra/identity-platform/reference-error-codes
- List users (GET /users, $select, $top up to 999, @odata.nextLink with $skiptoken, $count=true
  needing the ConsistencyLevel: eventual header, @odata.count, @odata.context):
  https://learn.microsoft.com/graph/api/user-list ,
  https://learn.microsoft.com/graph/paging ,
  https://learn.microsoft.com/graph/aad-advanced-queries
- Group members through nested groups, cast to users
  (GET /groups/{id}/transitiveMembers/microsoft.graph.user, GroupMember.Read.All):
  https://learn.microsoft.com/graph/api/group-list-transitivemembers
- List groups: https://learn.microsoft.com/graph/api/group-list
- User delta (GET /users/delta, @odata.nextLink then @odata.deltaLink with $deltatoken,
  "@removed": {"reason": "changed" | "deleted"}; a lost state token answers 410 Gone with code
  syncStateNotFound): https://learn.microsoft.com/graph/api/user-delta ,
  https://learn.microsoft.com/graph/delta-query-overview
- Error bodies ({"error": {"code", "message", "innerError": {"date", "request-id",
  "client-request-id"}}}, Authorization_RequestDenied "Insufficient privileges to complete the
  operation.", Request_BadRequest for an unknown $select property, InvalidAuthenticationToken):
  https://learn.microsoft.com/graph/errors , https://learn.microsoft.com/graph/resolve-auth-errors
- Throttling (429 Too Many Requests with a Retry-After header in seconds, code TooManyRequests):
  https://learn.microsoft.com/graph/throttling

The directory is a JSON file (--data), read again whenever it changes, so a test can rename a
user between two reads:

  {"tenant": "...", "client_id": "...", "client_secret": "...",
   "users": [{"id": ..., "userPrincipalName": ..., "accountEnabled": true, ...}],
   "groups": [{"id": ..., "displayName": ..., "members": [user or group ids]}],
   "faults": {"throttle": N, "throttle_status": 429, "expired_secret": true,
              "deny": ["users" | "groups" | "members"], "truncate": true, "page_size": N,
              "lose_delta": true}}

--generate N serves N generated users instead (the benchmark). Every request is logged, one
JSON line each, to --log. Stop it by PID.
"""

import argparse
import json
import os
import secrets
import threading
import urllib.parse
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Properties of microsoft.graph.user that $select may name (a subset; extension properties are
# any name a user of the data holds). https://learn.microsoft.com/graph/api/resources/user
USER_PROPERTIES = [
    "id", "accountEnabled", "businessPhones", "city", "companyName", "country", "department",
    "displayName", "employeeId", "employeeType", "givenName", "jobTitle", "mail",
    "mailNickname", "mobilePhone", "officeLocation", "onPremisesExtensionAttributes",
    "onPremisesImmutableId", "onPremisesSamAccountName", "onPremisesSyncEnabled",
    "otherMails", "preferredLanguage", "surname", "userPrincipalName", "userType",
]

LOCK = threading.Lock()


class Directory:
    def __init__(self, path, generate):
        self.path = path
        self.generate = generate
        self.mtime = None
        self.data = {}
        self.tokens = set()
        self.throttled = 0
        self.deltas = {}
        self.pending = {}
        self.load()

    def load(self):
        if self.generate:
            if not self.data:
                self.data = {
                    "tenant": "bench-tenant", "client_id": "bench-client",
                    "client_secret": "bench-secret", "groups": [], "faults": {},
                    "users": [
                        {
                            "id": str(uuid.UUID(int=i + 1)),
                            "userPrincipalName": f"user{i}@contoso.com",
                            "accountEnabled": i % 50 != 0,
                            "mail": f"user{i}@contoso.com",
                            "givenName": f"Given{i}",
                            "surname": f"Surname{i}",
                            "department": f"Dept{i % 40}",
                        }
                        for i in range(self.generate)
                    ],
                }
                ids = [u["id"] for u in self.data["users"]]
                self.data["groups"] = [
                    {"id": "00000000-0000-0000-0000-0000000a11ed", "displayName": "All staff",
                     "members": ids},
                ]
            return
        mtime = os.stat(self.path).st_mtime_ns
        if mtime != self.mtime:
            with open(self.path, encoding="utf-8") as f:
                self.data = json.load(f)
            self.mtime = mtime

    def properties(self):
        """$select names Graph knows (lowercase → Graph's casing): the user properties, and any
        property a user of the data holds (extension attributes). Worked out once per load."""
        if getattr(self, "_known_for", None) is not self.data:
            known = {p.lower(): p for p in USER_PROPERTIES}
            for u in self.data["users"]:
                for k in u:
                    known.setdefault(k.lower(), k)
            self._known, self._known_for = known, self.data
        return self._known

    def faults(self):
        return self.data.get("faults", {})


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def graph_error(code, message):
    # https://learn.microsoft.com/graph/errors: the error resource.
    rid = str(uuid.uuid4())
    return {"error": {"code": code, "message": message,
                      "innerError": {"date": now(), "request-id": rid,
                                     "client-request-id": rid}}}


def token_error(error, code, description, status):
    # https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
    trace = str(uuid.uuid4())
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
                             f"Correlation ID: {trace}\r\nTimestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp.replace("Z", "Z"),
        "trace_id": trace,
        "correlation_id": trace,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    directory = None
    log_file = None

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, body, headers=None):
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;odata.metadata=minimal;"
                                         "odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def record(self, extra=None):
        if not self.log_file:
            return
        entry = {"method": self.command, "path": self.path,
                 "consistency": self.headers.get("ConsistencyLevel")}
        entry.update(extra or {})
        with LOCK, open(self.log_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    # The token endpoint.
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        field = lambda k: (form.get(k) or [""])[0]
        self.record({"grant_type": field("grant_type"), "scope": field("scope")})
        with LOCK:
            self.directory.load()
            d = self.directory.data
            parts = urllib.parse.urlparse(self.path).path.strip("/").split("/")
            if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
                return self.send_json(404, graph_error("NotFound", "No such endpoint."))
            if parts[0] != d["tenant"]:
                return self.send_json(*token_error(
                    "invalid_request", 90002,
                    f"Tenant '{parts[0]}' not found. Check to make sure you have the correct "
                    "tenant ID and are signing into the correct cloud.", 400))
            if field("grant_type") != "client_credentials" or not field("scope").endswith("/.default"):
                return self.send_json(*token_error(
                    "invalid_scope", 1002012, "The provided value for scope is not valid.", 400))
            if field("client_id") != d["client_id"]:
                return self.send_json(*token_error(
                    "unauthorized_client", 700016,
                    f"Application with identifier '{field('client_id')}' was not found in the "
                    f"directory '{d['tenant']}'.", 400))
            if field("client_assertion"):
                return self.certificate_token(d, field, parts[0])
            if self.directory.faults().get("expired_secret"):
                return self.send_json(*token_error(
                    "invalid_client", 7000222,
                    f"The provided client secret keys for app '{d['client_id']}' are expired. "
                    "Visit the Azure portal to create new keys for your app: "
                    "https://aka.ms/NewClientSecret, or consider using certificate credentials "
                    "for added security: https://aka.ms/certCreds.", 401))
            if field("client_secret") != d["client_secret"]:
                return self.send_json(*token_error(
                    "invalid_client", 7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the "
                    "request is the client secret value, not the client secret ID, for a secret "
                    f"added to app '{d['client_id']}'.", 401))
        self.issue_token()

    def issue_token(self):
        token = secrets.token_urlsafe(32)
        self.directory.tokens.add(token)
        self.send_json(200, {"token_type": "Bearer", "expires_in": 3599,
                             "ext_expires_in": 3599, "access_token": token})

    def certificate_token(self, d, field, tenant):
        """A client assertion (https://learn.microsoft.com/entra/identity-platform/
        certificate-credentials): a JWT signed RS256 by the certificate registered on the app
        (data "certificate", PEM), naming it by x5t#S256, for this token endpoint, from this app,
        within its time range."""
        import base64, hashlib, time
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64d(part):
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

        fail = lambda code, text: self.send_json(*token_error("invalid_client", code, text, 401))
        if field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return fail(700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
        try:
            h, c, sig = field("client_assertion").split(".")
            header, claims = json.loads(b64d(h)), json.loads(b64d(c))
        except ValueError:
            return fail(50027, "JWT token is invalid or malformed.")
        cert = x509.load_pem_x509_certificate(d["certificate"].encode())
        der = cert.public_bytes(serialization.Encoding.DER)
        thumb = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
        if header.get("alg") != "RS256" or header.get("x5t#S256") != thumb:
            return fail(700027, "The certificate with identifier used to sign the client assertion "
                                f"is not registered on application. [Reason - The key was not found., "
                                f"Thumbprint of key used by client: '{header.get('x5t#S256')}']")
        try:
            cert.public_key().verify(b64d(sig), f"{h}.{c}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return fail(700027, "Client assertion failed signature validation.")
        if claims.get("aud") != f"http://{self.headers.get('Host')}/{tenant}/oauth2/v2.0/token":
            return fail(700023, "Client assertion audience claim does not match Realm issuer.")
        if claims.get("iss") != d["client_id"] or claims.get("sub") != d["client_id"]:
            return fail(700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
        now = time.time()
        if not (claims.get("nbf", 0) <= now + 300 and now < claims.get("exp", 0)):
            return fail(700024, "Client assertion is not within its valid time range.")
        self.issue_token()

    def do_GET(self):
        self.record()
        url = urllib.parse.urlparse(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        parts = url.path.strip("/").split("/")
        with LOCK:
            self.directory.load()
            d = self.directory
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in d.tokens:
                return self.send_json(401, graph_error(
                    "InvalidAuthenticationToken", "Access token is empty." if not auth
                    else "Access token validation failure. Invalid audience."))
            faults = d.faults()
            if faults.get("throttle", 0) > d.throttled:
                d.throttled += 1
                status = faults.get("throttle_status", 429)
                if status == 429:
                    return self.send_json(429, graph_error(
                        "TooManyRequests", "Too many requests."), {"Retry-After": "1"})
                return self.send_json(status, graph_error(
                    "ServiceUnavailable", "The service is temporarily unavailable."),
                    {"Retry-After": "1"})
            if parts[:1] != ["v1.0"]:
                return self.send_json(400, graph_error(
                    "BadRequest", f"Invalid version: {parts[0] if parts else ''}"))
            rest = parts[1:]
            if rest == ["users"]:
                return self.users(query)
            if rest == ["users", "delta"]:
                return self.delta(query)
            if rest == ["users", "$count"]:
                if self.denied("users"):
                    return
                return self.count()
            if rest == ["groups"]:
                return self.groups(query)
            if len(rest) == 4 and rest[0] == "groups" and rest[2:] == ["transitiveMembers", "microsoft.graph.user"]:
                return self.members(rest[1], query)
        self.send_json(400, graph_error(
            "BadRequest", f"Resource not found for the segment '{parts[-1]}'."))

    def denied(self, what):
        if what in self.directory.faults().get("deny", []):
            self.send_json(403, graph_error(
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation."))
            return True
        return False

    def base(self):
        return f"http://{self.headers.get('Host')}/v1.0"

    def selected(self, query):
        """The $select list in Graph's casing, or an error already sent."""
        known = self.directory.properties()
        names = [s for s in query.get("$select", "").split(",") if s]
        out = []
        for n in names:
            if n.lower() not in known:
                self.send_json(400, graph_error(
                    "Request_BadRequest",
                    f"Could not find a property named '{n}' on type 'microsoft.graph.user'."))
                return None
            out.append(known[n.lower()])
        # Without $select, Graph returns a default set.
        return out or ["businessPhones", "displayName", "givenName", "jobTitle", "mail",
                       "mobilePhone", "officeLocation", "preferredLanguage", "surname",
                       "userPrincipalName", "id"]

    def page_size(self, query):
        top = int(query.get("$top", "100"))
        if top < 1 or top > 999:
            return None
        return self.directory.faults().get("page_size", top)

    def project(self, user, select):
        return {p: user.get(p) for p in select}

    def users(self, query):
        if self.denied("users"):
            return
        select = self.selected(query)
        if select is None:
            return
        if query.get("$count") == "true" and self.headers.get("ConsistencyLevel") != "eventual":
            return self.send_json(400, graph_error(
                "Request_BadRequest",
                "$count is not currently supported."))
        top = self.page_size(query)
        if top is None:
            return self.send_json(400, graph_error(
                "Request_UnsupportedQuery", "Invalid page size specified: '{}'. Must be between 1 and 999 inclusive.".format(query.get("$top"))))
        users = self.directory.data["users"]
        start = int(query.get("$skiptoken", "0") or 0)
        page = users[start:start + top]
        body = {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users({','.join(select)})"}
        if query.get("$count") == "true" and start == 0:
            body["@odata.count"] = len(users)
        nxt = start + top
        # A proxy that drops the paging: no @odata.nextLink, the count unchanged.
        truncated = self.directory.faults().get("truncate")
        if nxt < len(users) and not truncated:
            q = {k: v for k, v in query.items() if k != "$skiptoken"}
            q["$skiptoken"] = str(nxt)
            body["@odata.nextLink"] = f"{self.base()}/users?" + urllib.parse.urlencode(q, safe="$,")
        body["value"] = [self.project(u, select) for u in page]
        self.send_json(200, body)

    def groups(self, query):
        if self.denied("groups"):
            return
        top = self.page_size(query) or 100
        groups = self.directory.data["groups"]
        start = int(query.get("$skiptoken", "0") or 0)
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups(id,displayName)"}
        if start + top < len(groups):
            body["@odata.nextLink"] = f"{self.base()}/groups?$select=id,displayName&$top={query.get('$top', '100')}&$skiptoken={start + top}"
        body["value"] = [{"id": g["id"], "displayName": g.get("displayName")}
                         for g in groups[start:start + top]]
        self.send_json(200, body)

    def members(self, gid, query):
        if self.denied("members"):
            return
        groups = {g["id"]: g for g in self.directory.data["groups"]}
        if gid not in groups:
            return self.send_json(404, graph_error(
                "Request_ResourceNotFound",
                f"Resource '{gid}' does not exist or one of its queried reference-property "
                "objects are not present."))
        memo = self.directory.__dict__.setdefault("_members", {})
        if memo.get(gid, (None,))[0] is self.directory.data:
            found = memo[gid][1]
        else:
            found = self.flatten(gid, groups)
            memo[gid] = (self.directory.data, found)
        top = self.page_size(query) or 100
        start = int(query.get("$skiptoken", "0") or 0)
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id)"}
        if start + top < len(found):
            body["@odata.nextLink"] = (f"{self.base()}/groups/{gid}/transitiveMembers/microsoft.graph.user"
                                       f"?$select=id&$top={query.get('$top', '100')}&$skiptoken={start + top}")
        body["value"] = [{"@odata.type": "#microsoft.graph.user", "id": m}
                         for m in found[start:start + top]]
        self.send_json(200, body)

    def flatten(self, gid, groups):
        """The users in group `gid`, nested groups resolved, each once."""
        users = {u["id"] for u in self.directory.data["users"]}
        found, found_set, seen, stack = [], set(), set(), [gid]
        while stack:
            g = stack.pop()
            if g in seen:
                continue
            seen.add(g)
            for m in groups.get(g, {}).get("members", []):
                if m in groups:
                    stack.append(m)
                elif m in users and m not in found_set:
                    found_set.add(m)
                    found.append(m)
        return found

    def delta(self, query):
        """Users delta. A state token names a copy of the users as they were when it was given;
        `$deltatoken=latest` starts from now ("sync from now"). Changes come a page at a time
        (`$skiptoken`), a changed user as its id and the changed properties only, a deleted one
        as its id and `@removed`."""
        if self.denied("users"):
            return
        d = self.directory
        faults = d.faults()
        top = faults.get("page_size", 999)
        skip = query.get("$skiptoken")
        if skip is not None:
            if skip not in d.pending:
                return self.send_json(400, graph_error("BadRequest", "Invalid skip token."))
            changes, new_token, select = d.pending.pop(skip)
        else:
            token = query.get("$deltatoken")
            now_users = {u["id"]: u for u in d.data["users"]}
            if token is None or token == "latest":
                select = self.selected(query)
                if select is None:
                    return
                old = now_users if token == "latest" else {}
            else:
                if faults.get("lose_delta") or token not in d.deltas:
                    return self.send_json(410, graph_error(
                        "syncStateNotFound",
                        "The sync state generation is not found. Please perform a full sync."))
                old, select = d.deltas[token]
            changes = []
            for i, u in now_users.items():
                before = old.get(i)
                if before is None:
                    changes.append(self.project(u, select))
                elif before != u:
                    changed = {"id": i}
                    changed.update({p: u.get(p) for p in select if before.get(p) != u.get(p)})
                    changes.append(changed)
            changes += [{"id": i, "@removed": {"reason": "changed"}}
                        for i in old if i not in now_users]
            new_token = secrets.token_urlsafe(16)
            d.deltas[new_token] = ({i: dict(u) for i, u in now_users.items()}, select)
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users("
                                  + ",".join(select) + ")"}
        if len(changes) > top:
            skip = secrets.token_urlsafe(16)
            d.pending[skip] = (changes[top:], new_token, select)
            body["@odata.nextLink"] = f"{self.base()}/users/delta?" + urllib.parse.urlencode({"$skiptoken": skip}, safe="$")
            changes = changes[:top]
        else:
            body["@odata.deltaLink"] = f"{self.base()}/users/delta?" + urllib.parse.urlencode({"$deltatoken": new_token}, safe="$")
        body["value"] = changes
        self.send_json(200, body)

    def count(self):
        """GET /users/$count: the number as text/plain (ConsistencyLevel: eventual required)."""
        if self.headers.get("ConsistencyLevel") != "eventual":
            return self.send_json(400, graph_error(
                "Request_BadRequest",
                "Count is not currently supported."))
        data = str(len(self.directory.data["users"])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data")
    ap.add_argument("--generate", type=int, default=0)
    ap.add_argument("--log")
    args = ap.parse_args()
    Handler.directory = Directory(args.data, args.generate)
    Handler.log_file = args.log
    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            # A client that hung up (Roster stops reading after a refusal) is not a fault.
            pass

    server = Server(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
