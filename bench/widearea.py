"""bench/widearea.sh's helpers (not a test): a delay proxy standing in for a wide-area link, and a
plain sequential SCIM client.

  widearea.py proxy LISTEN_PORT TARGET_PORT ONE_WAY_MS
      A TCP relay on 127.0.0.1 that delays every byte by ONE_WAY_MS in each direction (as a link
      delays every packet; bytes stay in order and several chunks can be on the wire at once, so
      it adds latency, not a bandwidth cap). A new connection also pays the TCP handshake: its
      first bytes to the server arrive one round trip later (the client's SYN and the server's
      SYN-ACK), so a request on a new connection costs two round trips, one on a kept-alive
      connection one. Prints `ready` once listening.
  widearea.py wait|seed N|ids|apply N VALUE|check N VALUE  URL TOKEN_FILE
      The plain client: Python's urllib, one request after the other (a new connection for each,
      as urllib does). `apply` PATCHes the title of the first N users (by userName) to VALUE and
      prints `N seconds server_cpu_seconds` (SERVER_PID names the server's process); `check`
      prints how many of them do not hold VALUE.
"""

import asyncio
import json
import os
import sys
import time
import urllib.request


# --- the delay proxy --------------------------------------------------------------------------

async def pipe(reader, writer, delay, not_before):
    """Copy reader → writer, each chunk delivered `delay` after it was read (and never before
    `not_before`, nor before the chunk ahead of it). `writer` may be a task that gives the
    writer: the connection it writes to is then made when the first chunk is due."""
    queue = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def deliver():
        nonlocal writer
        if isinstance(writer, asyncio.Task):
            try:
                writer = (await writer)[1]
            except OSError:
                return
        while True:
            at, data = await queue.get()
            wait = at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    pass
                return
            writer.write(data)
            try:
                await writer.drain()
            except OSError:
                return

    task = asyncio.create_task(deliver())
    last = 0.0
    while True:
        try:
            data = await reader.read(65536)
        except OSError:
            data = b""
        last = max(loop.time() + delay, not_before, last)
        queue.put_nowait((last, data or None))
        if not data:
            break
    await task


async def relay(client_r, client_w, target, delay):
    loop = asyncio.get_running_loop()
    # The handshake: the client's first bytes reach the server after SYN, SYN-ACK, data. On a
    # real link the server's accept() completes with the handshake's last ACK, that is with the
    # first bytes: so the connection to the server is made only then. (Made at once, it would
    # sit accepted and idle for the whole handshake, and a server that runs one connection at a
    # time would wait on the link instead of serving.)
    first = loop.time() + 3 * delay

    async def connect():
        await asyncio.sleep(max(0.0, first - loop.time()))
        return await asyncio.open_connection("127.0.0.1", target)

    server = asyncio.create_task(connect())
    up = asyncio.create_task(pipe(client_r, server, delay, first))
    try:
        server_r, server_w = await server
    except OSError:
        up.cancel()
        client_w.close()
        return
    await asyncio.gather(up, pipe(server_r, client_w, delay, 0.0), return_exceptions=True)
    for w in (server_w, client_w):
        w.close()


async def proxy(listen, target, one_way_ms):
    delay = one_way_ms / 1000
    server = await asyncio.start_server(
        lambda r, w: relay(r, w, target, delay), "127.0.0.1", listen, backlog=1024
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# --- the plain client -------------------------------------------------------------------------

def server_cpu():
    pid = os.environ.get("SERVER_PID")
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plain(mode, url, token, rest):
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"}

    def call(method, path, body=None):
        req = urllib.request.Request(url + "/" + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=60) as r:
            data = r.read()
            return json.loads(data) if data else None

    def users(n):
        out, start = [], 1
        while True:
            page = call("GET", f"Users?startIndex={start}&count=1000")
            items = page.get("Resources", [])
            if not items:
                break
            out.extend(items)
            start += len(items)
        return sorted(out, key=lambda u: u["userName"])[:n]

    if mode == "wait":
        for _ in range(200):
            try:
                call("GET", "ServiceProviderConfig")
                return
            except Exception:
                time.sleep(0.1)
        sys.exit("server did not start")
    elif mode == "seed":
        n = int(rest[0])
        ops = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"user{i:06}",
            "externalId": f"ext-{i}", "title": "Seeded", "displayName": f"User {i}",
            "name": {"givenName": "User", "familyName": str(i)},
            "emails": [{"type": "work", "value": f"user{i}@example.org", "primary": True}]}}
            for i in range(n)]
        r = call("POST", "Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                                  "Operations": ops})
        assert all(o["status"] == "201" for o in r["Operations"]), "seeding failed"
    elif mode == "apply":
        n, value = int(rest[0]), rest[1]
        todo = users(n)
        cpu, t = server_cpu(), time.perf_counter()
        for u in todo:
            call("PATCH", "Users/" + u["id"], {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": value}]})
        print(len(todo), f"{time.perf_counter() - t:.3f}", f"{server_cpu() - cpu:.3f}")
    elif mode == "check":
        n, value = int(rest[0]), rest[1]
        print(sum(1 for u in users(n) if u.get("title") != value))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    if sys.argv[1] == "proxy":
        asyncio.run(proxy(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
    else:
        mode, url, token_file, *rest = sys.argv[1:]
        plain(mode, url, open(token_file).read().strip(), rest)
