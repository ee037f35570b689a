#!/usr/bin/env python3
"""The hardening review's probes (issue 12), run against a running Ferry server, usually
a release build on loopback:

    python3 scripts/probes.py http://127.0.0.1:8080 [--pid PID]

Each probe prints PASS or FAIL with what it saw; the exit status is the number of
failures. Standard library only. The server should run with generous send, sign-up and
membership rates (the probes register a few hundred users and send a few hundred
messages quickly), e.g.
    FERRY_SEND_RATE=10000 FERRY_SEND_BURST=10000 FERRY_AUTH_RATE_PER_IP=100000 \\
    FERRY_MEMBERSHIP_RATE=1000 ferry-server
With --pid, the /sync probe also reads the server's resident memory from /proc.
"""

import argparse
import base64
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse
import uuid

FAILURES = []


def report(name, ok, detail):
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)
    if not ok:
        FAILURES.append(name)


class Api:
    def __init__(self, base, source="127.0.0.1"):
        url = urllib.parse.urlparse(base)
        self.host, self.port = url.hostname, url.port or 80
        self.source = source

    def call(self, method, path, body=None, token=None):
        conn = http.client.HTTPConnection(
            self.host, self.port, timeout=60, source_address=(self.source, 0)
        )
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, "/api/v1" + path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            value = raw
        return response.status, value, len(raw)


def register(api, name):
    status, tokens, _ = api.call(
        "POST",
        "/auth/register",
        {"username": name, "password": "correct horse battery", "display_name": name},
    )
    assert status == 201, (status, tokens)
    return tokens["access_token"], tokens["user"]["id"]


def uuid7():
    # Time-ordered enough for ids (the server wants a UUID, v7 preferred).
    millis = int(time.time() * 1000)
    raw = bytearray(os.urandom(16))
    raw[0:6] = millis.to_bytes(6, "big")
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def socket_open(api, token, query=""):
    """A WebSocket upgraded by hand and kept open (for presence); `query` is the
    upgrade's query string (`?features=members`)."""
    sock = socket.create_connection((api.host, api.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /api/v1/ws{query} HTTP/1.1\r\nHost: {api.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head[:80]
    return sock


def probe_sync_bytes(api, run, pid):
    """Six conversations of 100 bodies of 10,000 characters: 6 MB that one page of
    `limit=500&messages=100` would carry whole without the 4 MiB bound."""
    token, _ = register(api, f"{run}big")
    body = "x" * 10000
    for n in range(6):
        _, other = register(api, f"{run}sink{n}")
        _, chat, _ = api.call(
            "POST", "/conversations", {"kind": "direct", "member_ids": [other]}, token
        )
        for _ in range(100):
            status, _, _ = api.call(
                "POST", f"/conversations/{chat['id']}/messages", {"id": uuid7(), "body": body}, token
            )
            if status not in (200, 201):
                report("sync bounded in bytes", False, f"a send answered {status}")
                return
    before = rss_kib(pid) if pid else 0
    status, page, size = api.call("GET", "/sync?limit=500&messages=100", None, token)
    after = rss_kib(pid) if pid else 0
    grew = f", server RSS {before} -> {after} KiB" if pid else ""
    report(
        "sync bounded in bytes",
        status == 200 and size < 5 * 1024 * 1024 and len(page["messages"]) < 600,
        f"{status}, {size} bytes, {len(page['messages'])} of 600 messages{grew}",
    )


def probe_nul(api, run):
    token, _ = register(api, f"{run}nul")
    _, other = register(api, f"{run}nul2")
    _, chat, _ = api.call(
        "POST", "/conversations", {"kind": "direct", "member_ids": [other]}, token
    )
    status, answer, _ = api.call(
        "POST", f"/conversations/{chat['id']}/messages", {"id": uuid7(), "body": "a\u0000b"}, token
    )
    code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
    report("NUL in a body", status == 400 and code == "invalid_request", f"{status} {code}")


def probe_membership(api, run, metrics):
    """One member added to a 200-member group whose members all have a socket open: the
    frames encoded, and the bytes queued for the sockets, once with sockets that ask for
    `members` frames (what Ferry's client does) and once with sockets that do not."""
    results = {}
    for form, query in (("members frames", "?features=members"), ("whole conversations", "")):
        owner, _ = register(api, f"{run}own{len(results)}")
        people = [register(api, f"{run}m{len(results)}x{i}") for i in range(199)]
        status, group, _ = api.call(
            "POST",
            "/conversations",
            {"kind": "group", "title": "Probe", "member_ids": [p[1] for p in people]},
            owner,
        )
        assert status == 201, (status, group)
        sockets = [socket_open(api, token, query) for token, _ in people]
        extra = register(api, f"{run}late{len(results)}")[1]
        frames = metrics("ferry_conversation_frames_encoded_total")
        queued = metrics("ferry_socket_frame_bytes_total")
        started = time.monotonic()
        status, _, _ = api.call(
            "POST", f"/conversations/{group['id']}/members", {"user_ids": [extra]}, owner
        )
        took = time.monotonic() - started
        frames = metrics("ferry_conversation_frames_encoded_total") - frames
        queued = metrics("ferry_socket_frame_bytes_total") - queued
        for sock in sockets:
            sock.close()
        results[form] = (status, frames, queued, took)
    slim, whole = results["members frames"], results["whole conversations"]
    report(
        "membership change of a 200-member group",
        slim[0] == whole[0] == 200 and slim[1] <= 3 and whole[1] <= 3 and slim[2] * 20 < whole[2],
        "; ".join(
            f"{form}: {status}, {frames} frames encoded, {queued:,} bytes queued, {took * 1000:.0f} ms"
            for form, (status, frames, queued, took) in results.items()
        ),
    )


def probe_half_sent(api):
    """Ten request heads never finished: the server must answer or close each within its
    header timeout (10 s), not hold them."""
    sockets = []
    for _ in range(10):
        sock = socket.create_connection((api.host, api.port), timeout=30)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        sockets.append(sock)
    started = time.monotonic()
    ended = 0
    for sock in sockets:
        sock.settimeout(max(0.1, started + 25 - time.monotonic()))
        try:
            sock.recv(1024)  # the server closed it (b"") or answered it: either ends it
            ended += 1
        except socket.timeout:
            pass
        except ConnectionResetError:
            ended += 1
        sock.close()
    took = time.monotonic() - started
    report(
        "half-sent request heads",
        ended == 10,
        f"{ended} of 10 ended by the server, the last after {took:.1f} s",
    )


def probe_strangers(api, run, metrics):
    victim, victim_id = register(api, f"{run}victim")
    stalker, _ = register(api, f"{run}stalker")
    status, _, _ = api.call("GET", "/users?q=", None, stalker)
    report("empty user search", status == 400, f"{status}")
    status, group, _ = api.call(
        "POST", "/conversations", {"kind": "group", "title": "hi", "member_ids": [victim_id]}, stalker
    )
    state = next(m["state"] for m in group["members"] if m["user"]["id"] == victim_id)
    report("a stranger's group is a request", state == "request", state)
    before = metrics("ferry_connections")
    live = socket_open(api, victim)
    deadline = time.monotonic() + 10
    while metrics("ferry_connections") <= before:  # the socket is registered: she is online
        if time.monotonic() > deadline:
            report("no presence of a request", False, "the victim's socket never counted")
            return
    status, seen, _ = api.call("GET", "/presence", None, stalker)
    live.close()
    watched = [p for p in seen if p["user_id"] == victim_id]
    report("no presence of a request", status == 200 and not watched, f"{watched}")


def probe_lockout(base, run):
    owner_api = Api(base)
    register(owner_api, f"{run}owner")
    for i in range(11):
        Api(base, source=f"127.0.0.{2 + i}").call(
            "POST", "/auth/login", {"username": f"{run}owner", "password": "wrong one"}
        )
    status, _, _ = owner_api.call(
        "POST", "/auth/login", {"username": f"{run}owner", "password": "correct horse battery"}
    )
    report("guessing elsewhere does not lock the owner out", status == 200, f"{status}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()
    api = Api(args.base)
    run = "p" + uuid.uuid4().hex[:6]

    def metrics(name):
        url = urllib.parse.urlparse(args.base)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        return 0

    probe_nul(api, run)
    probe_strangers(api, run, metrics)
    probe_lockout(args.base, run)
    probe_membership(api, run, metrics)
    probe_sync_bytes(api, run, args.pid)
    probe_half_sent(api)
    print(f"{len(FAILURES)} failed" + (f": {', '.join(FAILURES)}" if FAILURES else ""))
    sys.exit(len(FAILURES))


if __name__ == "__main__":
    main()
