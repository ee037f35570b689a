#!/usr/bin/env python3
"""The review's probes, run against a running Ferry server from outside, usually a
release build on loopback: the hardening review's (issue 12), the outside security
review's (issue 33), and the second hardening round's attack sweep (files, long-polls,
changes, requests and blocks).

    python3 scripts/probes.py http://127.0.0.1:8080 [--pid PID] [--data-dir DIR] [--only NAME…]

Each probe prints PASS or FAIL with what it saw; the exit status is the number of
failures. A NOTE line is something seen that docs/protocol.md does not rule on (not a
failure); a SKIP line a probe that needs a server configured otherwise. Standard library
only.

Run the server on a fresh data directory (the preview probes read the server's peak of
preview memory, `ferry_preview_bytes_peak`, which counts from its start; the download
probe waits until no other HTTP connection is open), with its defaults otherwise
(`FERRY_PREVIEW_MEMORY_MIB` 512, the 10 GiB quota, 100 MiB files, the 10 s header and
30 s send timeouts, 500 connections an address, 16 sockets and long-polls a user) and
with generous send, sign-up and membership rates (the probes register a few hundred
users from one address, send a few hundred messages quickly, and block, accept and
report), and an open-file limit of some thousands (the long-poll probe opens 2,000
connections, from 127.0.0.20 to 127.0.0.27), e.g.
    ulimit -n 20000
    FERRY_SEND_RATE=10000 FERRY_SEND_BURST=10000 FERRY_AUTH_RATE_PER_IP=100000 \\
    FERRY_MEMBERSHIP_RATE=1000 ferry-server --bind 127.0.0.1:18080 --data-dir "$(mktemp -d)"
(add DATABASE_URL=postgres://.../a_fresh_database for Postgres).

--pid PID      the server's process id: the /sync, image, upload and long-poll probes also
               read its resident memory from /proc (the server must run on this machine).
--data-dir DIR the server's FERRY_DATA_DIR (with files in a directory, the default): the
               cancel and cut-upload probes look at DIR/files/uploads, the same-content
               probe counts DIR/files/blobs.
--only NAME…   run only these probes (`--list` names them). `report_flood` runs only so,
               against a server with the default FERRY_MEMBERSHIP_RATE (30 a minute),
               which the other probes need raised:
                   python3 scripts/probes.py http://127.0.0.1:18081 --only report_flood
The whole run takes about two and a half minutes (the download probe waits for the
server's send timeout, the connection probes for its header timeout, the long-poll probe
12 s).
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import resource
import select
import selectors
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
import zlib

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

    def call(self, method, path, body=None, token=None, raw=None, headers=None):
        """One request on a connection of its own: the status, the JSON answer (or the
        raw bytes) and its length. `raw` is sent as the body as is, with `headers`."""
        conn = http.client.HTTPConnection(
            self.host, self.port, timeout=60, source_address=(self.source, 0)
        )
        headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
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


def code_of(answer):
    """The `error.code` of an error body, or None."""
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return answer["error"].get("code")
    return None


def message_of(answer):
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return answer["error"].get("message", "")
    return ""


class RssWatch:
    """The server's resident memory, read every 20 ms from `start` to `stop` (its most,
    in KiB): a peak that is freed again before the probe ends still counts."""

    def __init__(self, pid):
        self.pid = pid
        self.before = rss_kib(pid) if pid else 0
        self.most = self.before
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        if pid:
            self.thread.start()

    def _watch(self):
        while self.running:
            try:
                self.most = max(self.most, rss_kib(self.pid))
            except OSError:
                return
            time.sleep(0.02)

    def stop(self):
        """The growth at the most, in bytes (0 without a pid)."""
        self.running = False
        if self.pid:
            self.thread.join()
            self.most = max(self.most, rss_kib(self.pid))
        return (self.most - self.before) * 1024

    def said(self):
        if not self.pid:
            return "server memory not read (no --pid)"
        return f"server RSS {self.before // 1024} MiB, at most {self.most // 1024} MiB"


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def declare(api, token, name, size, content_type, sha256):
    """`POST /uploads`: status and answer."""
    status, answer, _ = api.call(
        "POST",
        "/uploads",
        {"name": name, "size": size, "content_type": content_type, "sha256": sha256},
        token,
    )
    return status, answer


def patch(api, token, upload_id, offset, chunk):
    """One `PATCH /uploads/{id}` of `chunk` at `offset`: status and answer."""
    status, answer, _ = api.call(
        "PATCH",
        f"/uploads/{upload_id}",
        token=token,
        raw=chunk,
        headers={
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    return status, answer


def upload(api, token, name, data, content_type):
    """Declares `data` and sends it chunk by chunk: the status and answer of the last
    request (the stored `Upload`, with its `attachment`, when all went well)."""
    status, state = declare(api, token, name, len(data), content_type, sha256_hex(data))
    if status != 201:
        return status, state
    while not state.get("attachment"):
        offset = state["offset"]
        end = min(offset + state["chunk_size"], len(data))
        status, state = patch(api, token, state["id"], offset, data[offset:end])
        if status != 200:
            return status, state
    return status, state


def png_chunk(kind, data):
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


BLANK_IDAT = {}


def blank_png(width, height, tag=b""):
    """A black RGB PNG written by hand (IHDR, a tEXt chunk holding `tag` so that files of
    the same size differ, IDAT, IEND): a few hundred KB that decode to width × height × 3
    bytes."""
    if (width, height) not in BLANK_IDAT:
        # Each row: filter byte 0, then the row's zero bytes.
        BLANK_IDAT[width, height] = zlib.compress(bytes((width * 3 + 1) * height), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + png_chunk(b"tEXt", b"Comment\x00" + tag)
        + png_chunk(b"IDAT", BLANK_IDAT[width, height])
        + png_chunk(b"IEND", b"")
    )


# A 16 × 16 baseline JPEG (CPython's Lib/test/imghdrdata/python.jpg, 543 bytes): no JPEG
# encoder in the standard library, so its frame header is rewritten instead.
SMALL_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010101000100010000ffdb00430003020202020203020202030303030406040404"
    "0404080606050609080a0a090809090a0c0f0c0a0b0e0b09090d110d0e0f101011100a0c12131210130f1010"
    "10ffdb00430103030304030408040408100b090b101010101010101010101010101010101010101010101010"
    "1010101010101010101010101010101010101010101010101010ffc000110800100010030122000211010311"
    "01ffc400160001010100000000000000000000000000070405ffc40024100001040104020203000000000000"
    "00000102030406050708121311220014093132ffc4001501010100000000000000000000000000000006ffc4"
    "00231100010205030500000000000000000000010211030405062100123115166181e1ffda000c0301000211"
    "0311003f0014a6d26a1b73c1e61312d4951cf31163e42565beba5aec694540b1e520b254a51fd2cab8faf220"
    "ab963d976c9335e69b77d7e66da71781a5571c7f1cea71e24b39d7e32253f21a69ded4714a38b482e84b892a"
    "71691ecd2d213bf1efb91a74aceea15a758ed548ac655b858b81857b21299867a96b94b949654fb9c8852911"
    "4b812af07ad9f23c807e55be0df662a140cce8e69a3d5cb743b3d77a6558b1d9512188bf64b8d3f1c3680429"
    "c0d0febb3c02e03c5407b4bdd97b54e627fb6edf9460148262138db8529828370589727960e432896fc3828e"
    "a7528cea208dbe78191f07ad7fffd9"
)


def jpeg_measured_late(width, height, padding):
    """SMALL_JPEG with its frame header (SOF0) saying `width` × `height`, after `padding`
    bytes of comment (COM) segments put right after the SOI: nothing that size is
    encoded, and the frame header is past the first 256 KiB."""
    jpeg = bytearray(SMALL_JPEG)
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 7] = height.to_bytes(2, "big")
    jpeg[sof + 7 : sof + 9] = width.to_bytes(2, "big")
    padded = bytearray(jpeg[:2])
    left = padding
    while left > 0:
        take = min(left, 65000)
        padded += b"\xff\xfe" + (take + 2).to_bytes(2, "big") + b"x" * take
        left -= take
    return bytes(padded + jpeg[2:])


class Ws:
    """A minimal WebSocket client over a raw socket: masked text frames out, the
    server's unmasked frames in (its pings answered), each JSON frame parsed."""

    def __init__(self, api, token, query=""):
        self.sock = socket.create_connection((api.host, api.port), timeout=15)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /api/v1/ws{query} HTTP/1.1\r\nHost: {api.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            got = self.sock.recv(4096)
            if not got:
                raise EOFError("closed during the upgrade")
            self.buffer += got
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head[:80]
        self.welcome = self.next()
        assert self.welcome.get("type") == "welcome", self.welcome

    def _exactly(self, n, deadline):
        while len(self.buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame in time")
            self.sock.settimeout(left)
            got = self.sock.recv(65536)
            if not got:
                raise EOFError("the server closed the socket")
            self.buffer += got
        taken, self.buffer = self.buffer[:n], self.buffer[n:]
        return taken

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = bytes([0x80 | opcode, 0x80 | length])
        elif length < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send(self, frame):
        self._send_frame(0x1, json.dumps(frame).encode())

    def next(self, timeout=15):
        """The next JSON frame from the server."""
        deadline = time.monotonic() + timeout
        message = b""
        while True:
            first, second = self._exactly(2, deadline)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(self._exactly(2, deadline), "big")
            elif length == 127:
                length = int.from_bytes(self._exactly(8, deadline), "big")
            mask = self._exactly(4, deadline) if second & 0x80 else None
            payload = self._exactly(length, deadline)
            if mask:
                payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
            opcode = first & 0x0F
            if opcode == 0x9:  # the heartbeat's ping
                self._send_frame(0xA, payload)
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                raise EOFError(f"the server closed the socket ({code} {payload[2:]!r})")
            elif opcode in (0x0, 0x1, 0x2):
                message += payload
                if first & 0x80:
                    return json.loads(message)

    def expect(self, matches, timeout=15):
        """Frames until one `matches`: (it, the frames before it)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            frame = self.next(max(0.01, deadline - time.monotonic()))
            if matches(frame):
                return frame, seen
            seen.append(frame)

    def until_pong(self):
        """Sends a ping and returns every frame before its pong: all that was queued for
        this socket before the server read the ping."""
        self.send({"type": "ping"})
        return self.expect(lambda f: f.get("type") == "pong")[1]

    def close(self):
        try:
            self._send_frame(0x8, (1000).to_bytes(2, "big"))
        except OSError:
            pass
        self.sock.close()


def accept(api, token, conversation_id):
    status, _, _ = api.call("POST", f"/conversations/{conversation_id}/accept", None, token)
    assert status == 200, status


def direct(api, token, other_id):
    status, chat, _ = api.call(
        "POST", "/conversations", {"kind": "direct", "member_ids": [other_id]}, token
    )
    assert status in (200, 201), (status, chat)
    return chat["id"]


def send_text(api, token, conversation_id, body):
    status, message, _ = api.call(
        "POST", f"/conversations/{conversation_id}/messages", {"id": uuid7(), "body": body}, token
    )
    assert status in (200, 201), (status, message)
    return message


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


MIB = 1 << 20


def probe_late_jpeg(api, run, pid, metric):
    """Finding 1: a JPEG whose frame header comes after 320 KB of comments, past the
    256 KiB the server kept to measure an image, and says 20,000 × 20,000: it was taken
    as unmeasured and decoded (1.15 GB). It must be refused with 422 `image_too_large`,
    nothing decoded."""
    token, _ = register(api, f"{run}jpeg")
    # The same file at its own size is stored: the JPEG is valid, and a late frame
    # header alone is no reason to refuse it.
    small, small_state = upload(
        api, token, "late16.jpg", jpeg_measured_late(16, 16, 320_000), "image/jpeg"
    )
    control = small == 200 and (small_state.get("attachment") or {}).get("width") == 16
    peak_before = metric("ferry_preview_bytes_peak", None)
    watch = RssWatch(pid)
    bomb = jpeg_measured_late(20_000, 20_000, 320_000)
    status, answer = upload(api, token, "late.jpg", bomb, "image/jpeg")
    grew = watch.stop()
    peak_after = metric("ferry_preview_bytes_peak", None)
    report(
        "a JPEG measured past its first 256 KiB",
        control
        and status == 422
        and code_of(answer) == "image_too_large"
        and grew < 100_000_000
        and peak_after is not None
        and peak_after == peak_before,
        f"{len(bomb):,} bytes saying 20000x20000: {status} {code_of(answer)}; "
        f"the same at 16x16 {'stored, width 16' if control else f'NOT stored: {small} {small_state}'}; "
        f"preview memory peak {peak_before} -> {peak_after}; {watch.said()} (+{grew / 1e6:.0f} MB)",
    )


def probe_finish_once(api, run, metric):
    """Finding 2, second half: a repeat of the last PATCH while the file was checked
    checked it again, a second decode of the same image. While the last chunk's PATCH is
    in flight, three empty PATCHes at the end must each answer 503 (being checked) or
    200 (stored), and the preview memory's peak grow by one image at most.

    5600 × 5600 (about 240 MiB to decode by the server's budget of 8 bytes a pixel),
    not 7000 × 7000: two of these fit in the 512 MiB previews may take at once, so a
    second decode would run beside the first and show in the peak; two of 7000 × 7000
    (374 MiB each) would take turns and leave the peak as it was."""
    token, _ = register(api, f"{run}twice")
    side = 5600
    image = blank_png(side, side, f"finish {run}".encode())
    weight = side * side * 8 + len(image)
    peak_before = metric("ferry_preview_bytes_peak", None)
    if peak_before is None:
        report("finishing an upload once", False, "no ferry_preview_bytes_peak in /metrics")
        return
    status, state = declare(api, token, "twice.png", len(image), "image/png", sha256_hex(image))
    assert status == 201, (status, state)
    upload_id = state["id"]
    last = {}

    def send_last():
        last["answer"] = patch(api, token, upload_id, 0, image)

    sender = threading.Thread(target=send_last)
    sender.start()
    # The chunk is counted (the offset is at the end) once its check has started.
    deadline = time.monotonic() + 60
    while sender.is_alive() and time.monotonic() < deadline:
        status, seen, _ = api.call("GET", f"/uploads/{upload_id}", None, token)
        if status == 200 and seen["offset"] == len(image):
            break
        time.sleep(0.005)
    repeats = [None] * 3

    def repeat(i):
        repeats[i] = patch(api, token, upload_id, len(image), b"")

    others = [threading.Thread(target=repeat, args=(i,)) for i in range(3)]
    for thread in others:
        thread.start()
    for thread in [sender, *others]:
        thread.join()
    peak_after = metric("ferry_preview_bytes_peak")
    status, answer = last["answer"]
    stored = status == 200 and (answer.get("attachment") or {}).get("width") == side

    def fine(seen):
        status, answer = seen
        if status == 503:
            return code_of(answer) == "unavailable" and "being checked" in message_of(answer)
        return status == 200 and isinstance(answer, dict) and bool(answer.get("attachment"))

    said = [
        f"{s} {code_of(a)} ({message_of(a)})"
        if code_of(a)
        else f"{s} {'stored' if isinstance(a, dict) and a.get('attachment') else a}"
        for s, a in repeats
    ]
    grew = peak_after - peak_before
    report(
        "finishing an upload once",
        stored and all(fine(r) for r in repeats) and grew <= weight and peak_before < weight,
        f"the last chunk {status} {'stored, width ' + str(side) if stored else answer}; "
        f"the repeats during its check: {', '.join(said)}; preview memory peak "
        f"{peak_before:,} -> {peak_after:,} (one image: {weight:,})"
        + ("" if peak_before < weight else "; inconclusive: the peak was that high before (use a fresh server)"),
    )


def probe_previews(api, run, pid, metric):
    """Finding 2: previews were decoded all at once (12 PNGs, +2.2 GB). Twelve
    4000 × 4000 PNGs sent at once must all be stored and previewed, with the memory
    previews take at once within FERRY_PREVIEW_MEMORY_MIB (512 by default)."""
    token, _ = register(api, f"{run}previews")
    images = [blank_png(4000, 4000, f"{run} {i}".encode()) for i in range(12)]
    states = []
    for i, image in enumerate(images):
        status, state = declare(api, token, f"{i}.png", len(image), "image/png", sha256_hex(image))
        assert status == 201, (status, state)
        states.append(state)
    answers = [None] * len(images)
    together = threading.Barrier(len(images))

    def send(i):
        together.wait()
        answers[i] = patch(api, token, states[i]["id"], 0, images[i])

    watch = RssWatch(pid)
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(images))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - started
    grew = watch.stop()
    peak = metric("ferry_preview_bytes_peak", None)
    stored = sum(
        1
        for status, answer in answers
        if status == 200 and (answer.get("attachment") or {}).get("width") == 4000
    )
    refused = [f"{s} {code_of(a)}" for s, a in answers if s != 200]
    report(
        "previews take turns by memory",
        stored == 12 and peak is not None and peak <= 512 * MIB and grew < 1_000_000_000,
        f"{stored} of 12 stored with width 4000 in {took:.1f} s{'; ' + ', '.join(refused) if refused else ''}; "
        f"preview memory peak {peak if peak is None else f'{peak / MIB:.0f} MiB'} (limit 512 MiB); "
        f"{watch.said()} (+{grew / 1e6:.0f} MB)",
    )


def probe_held_chunks(api, run, pid):
    """Finding 3: upload chunks were read whole into memory before they were stored;
    200 PATCHes of one user, each declaring a 4 MiB chunk and sending all but its last
    byte, held +1.38 GB. The server reads a few of one user's chunks at once and streams
    them, so its memory must grow by less than 200 MB; another user's upload is not held
    up meanwhile."""
    token, _ = register(api, f"{run}hold")
    status, state = declare(
        api, token, "held.bin", 8 * MIB, "application/octet-stream", sha256_hex(b"never whole")
    )
    assert status == 201, (status, state)
    chunk = 4 * MIB
    head = (
        f"PATCH /api/v1/uploads/{state['id']} HTTP/1.1\r\nHost: {api.host}\r\n"
        f"Authorization: Bearer {token}\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {chunk}\r\n\r\n"
    ).encode()
    body = memoryview(bytes(chunk - 1))
    watch = RssWatch(pid)
    sockets = []
    for _ in range(200):
        sock = socket.create_connection((api.host, api.port), timeout=10)
        sock.sendall(head)
        sock.setblocking(False)
        sockets.append(sock)
    sent = [0] * len(sockets)
    ended = set()
    idle_since = time.monotonic()
    give_up = idle_since + 30
    while time.monotonic() < give_up:
        pending = [
            i for i in range(len(sockets)) if i not in ended and sent[i] < len(body)
        ]
        if not pending:
            break
        _, writable, _ = select.select([], [sockets[i] for i in pending], [], 0.25)
        writable = set(writable)
        moved = False
        for i in pending:
            if sockets[i] not in writable:
                continue
            try:
                sent[i] += sockets[i].send(body[sent[i] : sent[i] + MIB])
                moved = True
            except BlockingIOError:
                pass
            except OSError:
                ended.add(i)
        if moved:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > 1.0:
            break  # the rest is not read: every socket's buffers are full
    # Another user uploads meanwhile: the turns are one user's.
    other, _ = register(api, f"{run}hold2")
    other_status, other_state = upload(api, other, "other.txt", b"another user's bytes", "text/plain")
    other_ok = other_status == 200 and bool(other_state.get("attachment"))
    time.sleep(1)  # what the server does with what it was sent
    grew = watch.stop()
    for sock in sockets:
        sock.close()
    whole = sum(1 for n in sent if n == len(body))
    report(
        "upload chunks held open",
        grew < 200_000_000 and other_ok,
        f"{sum(sent) / MIB:.0f} MiB sent on 200 PATCHes ({whole} sent all but the last byte, "
        f"{len(ended)} ended by the server); another user's upload meanwhile: "
        f"{other_status}{'' if other_ok else f' {other_state}'}; {watch.said()} (+{grew / 1e6:.0f} MB)",
    )


def probe_open_uploads(api, run):
    """Finding 4: unfinished uploads counted once per declared hash, so 150 of 100 MiB
    declaring one hash passed the 10 GiB quota. At most 100 may be unfinished (413
    `quota_exceeded` after), each counted at its full size."""
    token, _ = register(api, f"{run}quota")
    same = sha256_hex(b"never sent")
    size = 100 * MIB
    accepted, refused = [], {}
    for i in range(150):
        status, answer = declare(api, token, f"big{i}.bin", size, "application/octet-stream", same)
        if status == 201:
            accepted.append(answer["id"])
        else:
            key = f"{status} {code_of(answer)}"
            refused[key] = refused.get(key, 0) + 1
    cancelled = sum(
        1 for upload_id in accepted if api.call("DELETE", f"/uploads/{upload_id}", None, token)[0] == 204
    )
    # Cancelled, they make room again.
    status, again = declare(api, token, "again.bin", size, "application/octet-stream", same)
    if status == 201:
        api.call("DELETE", f"/uploads/{again['id']}", None, token)
    declared = len(accepted) * size
    report(
        "unfinished uploads against the quota",
        len(accepted) <= 100
        and declared <= 10 << 30
        and set(refused) <= {"413 quota_exceeded"}
        and cancelled == len(accepted)
        and status == 201,
        f"{len(accepted)} of 150 accepted ({declared / (1 << 30):.2f} GiB declared, quota 10 GiB), "
        f"refused: {refused or 'none'}; {cancelled} cancelled; one more after that: {status}",
    )


def probe_cancel_mid_chunk(api, run, data_dir):
    """Finding 5: an upload cancelled while its chunk arrived left the chunk on disk,
    with no row naming it. The chunk's PATCH must answer 409 and leave no file."""
    token, _ = register(api, f"{run}cancel")
    data = bytes([7]) * (64 * 1024)
    status, state = declare(api, token, "a.bin", len(data), "application/octet-stream", sha256_hex(data))
    assert status == 201, (status, state)
    upload_id = state["id"]
    sock = socket.create_connection((api.host, api.port), timeout=30)
    sock.sendall(
        (
            f"PATCH /api/v1/uploads/{upload_id} HTTP/1.1\r\nHost: {api.host}\r\n"
            f"Authorization: Bearer {token}\r\nUpload-Offset: 0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        + data[:1024]
    )
    folder = os.path.join(data_dir, "files", "uploads", upload_id) if data_dir else None
    started = True
    if folder:
        # The chunk's object is being written once its folder is there.
        deadline = time.monotonic() + 10
        while not os.path.isdir(folder) and time.monotonic() < deadline:
            time.sleep(0.01)
        started = os.path.isdir(folder)
    else:
        time.sleep(1)  # time for the server to start on the chunk
    cancelled, _, _ = api.call("DELETE", f"/uploads/{upload_id}", None, token)
    sock.sendall(data[1024:])
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    sock.close()
    try:
        code = code_of(json.loads(body))
    except ValueError:
        code = None
    left = (
        [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files] if folder else []
    )
    where = (
        f"{folder}: {'no file' if not left else left}"
        if folder
        else "files not checked (no --data-dir)"
    )
    report(
        "an upload cancelled while its chunk arrives",
        started and cancelled == 204 and response.status == 409 and not left,
        f"cancel {cancelled}, the chunk {response.status} {code}; {where}"
        + ("" if started else "; the chunk's folder never appeared: inconclusive"),
    )


# HTTP/2's connection preface and an empty SETTINGS frame.
H2_START = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"
# A HEADERS frame on stream 1, END_STREAM without END_HEADERS (the server waits for a
# CONTINUATION), with an HPACK block for GET, http and /.
H2_HEADERS_UNENDED = b"\x00\x00\x03\x01\x01\x00\x00\x00\x01\x82\x86\x84"


def until_closed(sock, deadline):
    """Reads until the server closes `sock` (True), or until `deadline` (False)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except OSError:  # reset
            return True


def probe_silent_connections(api):
    """Finding 6: connections that never make a request were never closed: a silent one,
    HTTP/2 cleartext after its preface, an HTTP/2 header block never ended. Each must be
    closed within 25 s (the header timeout is 10 s)."""
    sockets = []
    for kind in ("silent", "h2 preface", "h2 headers unended"):
        for _ in range(3):
            sock = socket.create_connection((api.host, api.port), timeout=10)
            if kind != "silent":
                sock.sendall(H2_START)
            if kind == "h2 headers unended":
                sock.sendall(H2_HEADERS_UNENDED)
            sockets.append((kind, sock))
    started = time.monotonic()
    closed = {}
    for kind, sock in sockets:
        closed.setdefault(kind, 0)
        closed[kind] += until_closed(sock, started + 25)
        sock.close()
    took = time.monotonic() - started
    report(
        "connections that never make a request",
        sum(closed.values()) == len(sockets),
        ", ".join(f"{kind}: {n} of 3 closed" for kind, n in closed.items())
        + f", the last after {took:.1f} s",
    )


def probe_unread_download(api, run, metric):
    """Finding 6: a download whose client stopped reading held its connection for ever.
    A write that makes no progress for the send timeout (30 s) must end it."""
    token, _ = register(api, f"{run}dl")
    data = os.urandom(24 * MIB)  # more than loopback's buffers hold on both sides
    status, state = upload(api, token, "big.bin", data, "application/octet-stream")
    if status != 200:
        report("a download nobody reads", False, f"the upload answered {status} {state}")
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(10)
    sock.connect((api.host, api.port))
    sock.sendall(
        (
            f"GET /api/v1/attachments/{state['attachment']['id']} HTTP/1.1\r\nHost: {api.host}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    started = time.monotonic()
    # Each other request had a connection of its own, closed; the one left is the
    # metrics request's own.
    open_now = metric("ferry_http_connections", None)
    while open_now is not None and open_now > 1 and time.monotonic() < started + 60:
        time.sleep(0.5)
        open_now = metric("ferry_http_connections", None)
    took = time.monotonic() - started
    got = b""
    sock.settimeout(10)
    try:
        while True:
            piece = sock.recv(1 << 20)
            if not piece:
                break
            got += piece
    except OSError:
        pass
    sock.close()
    head, _, body = got.partition(b"\r\n\r\n")
    first_line = head.split(b"\r\n", 1)[0].decode(errors="replace") or "no answer"
    report(
        "a download nobody reads",
        open_now == 1 and len(body) < len(data),
        f"{first_line}; "
        + (
            "no ferry_http_connections in /metrics"
            if open_now is None
            else f"closed by the server after {took:.0f} s"
            if open_now == 1
            else f"still open after {took:.0f} s ({open_now} HTTP connections)"
        )
        + f", {len(body):,} of {len(data):,} bytes arrived",
    )


def probe_stranger_sync(api, run):
    """Finding 7: a stranger polling /sync saw their request come back when it was
    delivered and again when it was read. A member who has not accepted moves their marks
    for their own devices only."""
    alice, alice_id = register(api, f"{run}sya")
    mallory, _ = register(api, f"{run}sym")
    chat = direct(api, mallory, alice_id)
    hi = send_text(api, mallory, chat, "hi")

    def sync(cursor=None):
        query = f"?since={urllib.parse.quote(cursor)}" if cursor else ""
        status, page, _ = api.call("GET", "/sync" + query, None, mallory)
        assert status == 200, (status, page)
        return page

    # Polled until nothing comes: on Postgres /sync is at-least-once, and a conversation
    # changed at or above the pass's floor (while any transaction on the cluster holds
    # its xmin back) comes again unchanged.
    cursor = sync()["cursor"]
    deadline = time.monotonic() + 20
    while True:
        page = sync(cursor)
        cursor = page["cursor"]
        if not page["conversations"]:
            break
        if time.monotonic() > deadline:
            report(
                "a stranger's /sync after a request is read",
                False,
                "inconclusive: mallory's /sync kept bringing the conversation back unchanged for 20 s",
            )
            return
        time.sleep(0.1)
    marks = [
        api.call("POST", f"/conversations/{chat}/{path}", {"seq": hi["seq"]}, alice)[0]
        for path in ("delivered", "read")
    ]
    after = sync(cursor)
    # The marks did move, for her.
    _, hers, _ = api.call("GET", f"/conversations/{chat}", None, alice)
    me = next(m for m in hers["members"] if m["user"]["id"] == alice_id)
    # And the same /sync does see a change meant for mallory.
    send_text(api, alice, chat, "hello")
    seen = sync(cursor)
    report(
        "a stranger's /sync after a request is read",
        marks == [204, 204]
        and after["conversations"] == []
        and me["read_seq"] == hi["seq"]
        and [c["id"] for c in seen["conversations"]] == [chat],
        f"delivered and read {marks}; mallory's /sync since: "
        f"{len(after['conversations'])} conversations (after alice's reply: "
        f"{len(seen['conversations'])}); alice's own read_seq {me['read_seq']}",
    )


def probe_block_in_group(api, run):
    """Finding 8: in a group both were in, the blocked user got the blocker's typing and
    receipts, and saw their watermarks."""
    alice, alice_id = register(api, f"{run}ga")
    bob, bob_id = register(api, f"{run}gb")
    carol, carol_id = register(api, f"{run}gc")
    # Known to each other first, so the group is accepted by all.
    for token, other in ((bob, bob_id), (carol, carol_id)):
        accept(api, token, direct(api, alice, other))
    accept(api, carol, direct(api, bob, carol_id))
    status, group, _ = api.call(
        "POST", "/conversations", {"kind": "group", "title": "team", "member_ids": [bob_id, carol_id]}, alice
    )
    assert status == 201, (status, group)
    group = group["id"]
    hi = send_text(api, alice, group, "hi all")
    blocked, _, _ = api.call("PUT", f"/blocks/{alice_id}", None, bob)
    sockets = []
    try:
        blocked_ws = Ws(api, alice)
        third = Ws(api, carol)
        blocker = Ws(api, bob)
        sockets = [blocked_ws, third, blocker]
        blocker.send({"type": "typing", "conversation_id": group, "typing": True})
        blocker.send({"type": "read", "conversation_id": group, "seq": hi["seq"]})
        third.expect(lambda f: f.get("type") == "receipt" and f.get("user_id") == bob_id)
        # Everything bob's socket sent was relayed before its ping was answered.
        blocker.until_pong()
        heard = blocked_ws.until_pong()
    except (EOFError, TimeoutError, OSError, AssertionError) as e:
        report("a block in a shared group", False, f"the sockets: {e!r}")
        return
    finally:
        for ws in sockets:
            ws.close()
    leaked = [
        f for f in heard if f.get("type") in ("typing", "receipt") and f.get("user_id") == bob_id
    ]
    _, view, _ = api.call("GET", f"/conversations/{group}", None, alice)
    bob_seen = next(m for m in view["members"] if m["user"]["id"] == bob_id)
    _, carols, _ = api.call("GET", f"/conversations/{group}", None, carol)
    bob_for_carol = next(m for m in carols["members"] if m["user"]["id"] == bob_id)
    report(
        "a block in a shared group",
        blocked == 204
        and not leaked
        and (bob_seen["read_seq"], bob_seen["delivered_seq"]) == (0, 0)
        and bob_for_carol["read_seq"] == hi["seq"],
        f"block {blocked}; carol heard bob's receipt; alice heard {len(heard)} frames, "
        f"{leaked or 'none of bob'}; alice sees bob's read/delivered "
        f"{bob_seen['read_seq']}/{bob_seen['delivered_seq']}, carol sees read {bob_for_carol['read_seq']}",
    )


def probe_report_others_message(api, run):
    """Finding 9: a report took any message id, so an operator could be led to read a
    private message. The message must be the reported user's, in a conversation the
    reporter is in."""
    alice, alice_id = register(api, f"{run}ra")
    bob, bob_id = register(api, f"{run}rb")
    mallory, _ = register(api, f"{run}rm")
    private = direct(api, alice, bob_id)
    secret = send_text(api, alice, private, "a private message")
    theirs = direct(api, mallory, alice_id)
    own = send_text(api, mallory, theirs, "my own message")

    def reported(conversation, message):
        status, answer, _ = api.call(
            "POST",
            "/reports",
            {"user_id": alice_id, "conversation_id": conversation, "message_id": message, "reason": "spam"},
            mallory,
        )
        return f"{status} {code_of(answer) or ''}".strip()

    refused = {
        "alice's message in a chat mallory is not in": reported(private, secret["id"]),
        "that message under their shared chat": reported(theirs, secret["id"]),
        "mallory's own message": reported(theirs, own["id"]),
        "a random id": reported(theirs, uuid7()),
    }
    hello = send_text(api, alice, theirs, "hello mallory")
    fair = reported(theirs, hello["id"])
    report(
        "a report names only a message the reporter saw",
        all(v == "404 not_found" for v in refused.values()) and fair == "201",
        "; ".join(f"{k}: {v}" for k, v in refused.items()) + f"; alice's message to mallory: {fair}",
    )


def probe_reordering_names(api, run):
    """Finding 10: `invoice\\u202egnp.exe` shows as `invoiceexe.png`. Names with
    bidirectional overrides are refused."""
    token, _ = register(api, f"{run}bidi")
    data = b"hello"
    seen = {}
    for name in ("invoice\u202egnp.exe", "a\u2066b.txt", "\u202ax.pdf"):
        status, answer = declare(api, token, name, len(data), "text/plain", sha256_hex(data))
        seen[ascii(name)] = f"{status} {code_of(answer)}"
    report(
        "file names that reorder themselves",
        all(v == "400 invalid_request" for v in seen.values()),
        ", ".join(f"{k}: {v}" for k, v in seen.items()),
    )


# ---------------------------------------------------------------------------------------
# The second hardening round's attack sweep: files (bombs, polyglots, what is served,
# ranges, offsets, other users' ids, names, hundreds of cut uploads), long-polls, changes,
# requests and blocks, each attacked on purpose from outside.


def note(name, detail):
    """Something seen that docs/protocol.md does not rule on: printed, not a failure."""
    print(f"NOTE  {name}: {detail}", flush=True)


def skip(name, detail):
    print(f"SKIP  {name}: {detail}", flush=True)


def fetch(api, token, path, headers=None, method="GET"):
    """A request whose answer is wanted whole: status, headers (lowercase names), bytes."""
    conn = http.client.HTTPConnection(
        api.host, api.port, timeout=60, source_address=(api.source, 0)
    )
    conn.request(method, "/api/v1" + path, headers={"Authorization": f"Bearer {token}", **(headers or {})})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def call_with_headers(api, method, path, body, token):
    """`Api.call` with the answer's headers: status, headers (lowercase names), JSON."""
    conn = http.client.HTTPConnection(
        api.host, api.port, timeout=60, source_address=(api.source, 0)
    )
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    conn.request(method, "/api/v1" + path, body=None if body is None else json.dumps(body).encode(), headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        value = raw
    return response.status, {k.lower(): v for k, v in response.getheaders()}, value


def error_of(body):
    """(code, message) of a raw error body."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None, None
    return code_of(answer), message_of(answer)


def post_entry(api, token, conversation_id, **fields):
    """`POST …/messages` of a message or a change (`id` may be given): status, answer."""
    payload = {"id": uuid7(), **{k: v for k, v in fields.items() if v is not None}}
    status, answer, _ = api.call(
        "POST", f"/conversations/{conversation_id}/messages", payload, token
    )
    return status, answer


def said(status, answer):
    return f"{status} {code_of(answer) or ''}".strip()


def history(api, token, conversation_id):
    status, page, _ = api.call(
        "GET", f"/conversations/{conversation_id}/messages?after_seq=0&limit=500", None, token
    )
    assert status == 200, (status, page)
    return page["messages"]


def new_group(api, token, title, member_ids):
    status, group, _ = api.call(
        "POST", "/conversations", {"kind": "group", "title": title, "member_ids": member_ids}, token
    )
    assert status == 201, (status, group)
    return group["id"]


def acquaint(api, a, b, b_id):
    """A direct conversation both accepted: the two are contacts."""
    chat = direct(api, a, b_id)
    accept(api, b, chat)
    return chat


def drained(api, token, timeout=20):
    """A `/sync` cursor past all the user sees now (polled until a page brings nothing:
    Postgres' /sync is at-least-once), or None."""
    status, page, _ = api.call("GET", "/sync", None, token)
    assert status == 200, (status, page)
    cursor = page["cursor"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, page, _ = api.call("GET", f"/sync?since={urllib.parse.quote(cursor)}", None, token)
        assert status == 200, (status, page)
        cursor = page["cursor"]
        if not page["conversations"]:
            return cursor
        time.sleep(0.1)
    return None


def member_row(conversation, user_id):
    return next((m for m in conversation["members"] if m["user"]["id"] == user_id), None)


def marks(row):
    """A member row's (read_seq, delivered_seq)."""
    return (row["read_seq"], row["delivered_seq"]) if row else None


class Bystander:
    """Another user's small request (`GET /me`) every 50 ms while an attack runs: the
    slowest answer (s) and those that failed."""

    def __init__(self, api, token):
        self.api, self.token = api, token
        self.worst, self.failures, self.count = 0.0, [], 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            started = time.monotonic()
            try:
                status, _, _ = self.api.call("GET", "/me", None, self.token)
            except Exception as e:  # noqa: BLE001
                status = repr(e)
            took = time.monotonic() - started
            self.worst = max(self.worst, took)
            self.count += 1
            if status != 200:
                self.failures.append(status)
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.thread.join()
        return self.worst, self.failures

    def said(self):
        failed = f", {len(self.failures)} failed ({self.failures[:3]})" if self.failures else ""
        return f"another user's GET /me meanwhile: slowest {self.worst:.2f} s of {self.count}{failed}"


def send_whole(api, token, state, data):
    """Sends `data` to the declared upload `state`, chunk by chunk: (status, answer)."""
    status = 201
    while not state.get("attachment"):
        offset = state["offset"]
        end = min(offset + state["chunk_size"], len(data))
        status, state = patch(api, token, state["id"], offset, data[offset:end])
        if status != 200:
            return status, state
    return 200, state


def all_at_once(api, token, files, pid, other):
    """Declares each (name, bytes, type) of `files`, then sends them all at once: the
    answers, the growth of the server's memory at its most (bytes), what it was, how long
    it took, and how another user (`other`, a token) was answered meanwhile."""
    states = []
    for name, data, kind in files:
        status, state = declare(api, token, name, len(data), kind, sha256_hex(data))
        assert status == 201, (name, status, state)
        states.append(state)
    answers = [None] * len(files)
    together = threading.Barrier(len(files))

    def send(i):
        together.wait()
        answers[i] = send_whole(api, token, states[i], files[i][1])

    watch = RssWatch(pid)
    bystander = Bystander(api, other)
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(files))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - started
    time.sleep(0.3)  # what the server still does with them
    grew = watch.stop()
    bystander.stop()
    return answers, grew, watch, took, bystander


def outcome(answers):
    """How the files fared, e.g. `stored 6 (4 with a preview, 16x16)`, and whether each was
    stored or refused as too large."""
    stored = [a for s, a in answers if s == 200 and isinstance(a, dict) and a.get("attachment")]
    previews = sum(1 for a in stored if a["attachment"].get("thumbnail"))
    sizes = sorted({f"{a['attachment'].get('width')}x{a['attachment'].get('height')}" for a in stored})
    others = [f"{s} {code_of(a)}" for s, a in answers if not (s == 200 and isinstance(a, dict) and a.get("attachment"))]
    fine = all(s == 200 and isinstance(a, dict) and a.get("attachment") or (s == 422 and code_of(a) == "image_too_large") for s, a in answers)
    text = f"stored {len(stored)} ({previews} with a preview, {', '.join(sizes) or '-'})"
    if others:
        text += f", refused: {', '.join(others)}"
    return fine, text


def stored_as(status, answer):
    """The stored attachment of an upload's last answer, or None."""
    if status == 200 and isinstance(answer, dict):
        return answer.get("attachment")
    return None


# The memory previews may take at once (FERRY_PREVIEW_MEMORY_MIB's default), and slack for
# the rest of a server that decodes.
PREVIEW_BOUND = 512 * MIB + 100_000_000


def gif_lzw_blank(pixels, min_code=2):
    """GIF's LZW (codes least significant bit first) for `pixels` pixels of colour 0: each
    code the entry the decoder is about to make (one pixel longer than the last), a clear
    code before the table fills; about 1,400 pixels a byte."""
    clear, end = 1 << min_code, (1 << min_code) + 1
    out = bytearray()
    acc = bits = 0

    def put(code, width):
        nonlocal acc, bits
        acc |= code << bits
        bits += width
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8

    width = min_code + 1
    put(clear, width)
    left = pixels
    while left > 0:
        width, next_code = min_code + 1, end + 1
        put(0, width)  # the first code after a clear: one pixel, no entry made
        left -= 1
        run = 1
        while left > 0 and next_code < 4093:
            if left >= run + 1:
                code, run = next_code, run + 1
            else:
                code, run = (end + left - 1 if left >= 2 else 0), left
            put(code, width)
            left -= run
            next_code += 1  # the decoder made an entry
            if next_code == 1 << width and width < 12:
                width += 1
        if left > 0:
            put(clear, width)
    put(end, width)
    if bits:
        out.append(acc & 0xFF)
    return bytes(out)


def gif_blocks(data):
    return b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255)) + b"\x00"


LZW_BLANK = {}


def gif_image(screen, frames, tag=b"\x00\x00\x00"):
    """A GIF whose logical screen is `screen` (w, h) with the given frames ((w, h) each,
    blank, at the top left; (w, h, n) for a frame whose data holds only n pixels), a
    two-colour palette whose second colour is `tag`."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", screen[0], screen[1], 0x80, 0, 0))
    out += b"\x00\x00\x00" + tag[:3].ljust(3, b"\x00")
    for width, height, *pixels in frames:
        pixels = pixels[0] if pixels else width * height
        if pixels not in LZW_BLANK:
            LZW_BLANK[pixels] = gif_blocks(gif_lzw_blank(pixels))
        out += b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02" + LZW_BLANK[pixels]
    return bytes(out + b";")


INFLATED = {}


def zlib_zeros(n):
    """A zlib stream of `n` zero bytes (about a thousandth of n)."""
    if n not in INFLATED:
        packer = zlib.compressobj(9)
        block = bytes(MIB)
        parts = [packer.compress(block) for _ in range(n // MIB)]
        INFLATED[n] = b"".join(parts) + packer.compress(bytes(n % MIB)) + packer.flush()
    return INFLATED[n]


def png_with(chunks, width=16, height=16):
    """A black RGB PNG with `chunks` ((kind, data) each) between IHDR and IDAT."""
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + b"".join(png_chunk(kind, data) for kind, data in chunks)
        + png_chunk(b"IDAT", zlib.compress(bytes((width * 3 + 1) * height)))
        + png_chunk(b"IEND", b"")
    )


def vp8_blank(width, height):
    """A VP8 key frame of `width` × `height` whose two partitions are zero bytes: a boolean
    decoder reading zeros reads every flag as 0, so the frame decodes whole (every
    macroblock B_PRED with DC sub-blocks, every block ending at once) from about 1.5 bytes
    a macroblock."""
    blocks = -(-width // 16) * -(-height // 16)
    first = min(524_287, blocks * 9 // 10 + 256)  # ~4 bits a macroblock needed
    second = blocks * 2 + 256  # ~10 bits a macroblock needed
    tag = (1 << 4) | (first << 5)  # a key frame, shown, version 0
    return (
        tag.to_bytes(3, "little")
        + b"\x9d\x01\x2a"
        + struct.pack("<HH", width, height)
        + bytes(first)
        + bytes(second)
    )


def riff_webp(chunks):
    body = b"WEBP" + b"".join(
        kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")
        for kind, data in chunks
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_canvas(width, height, inner, tag=b""):
    """An extended WebP (VP8X) whose canvas says `width` × `height`, holding the VP8
    bitstream `inner` (and an unknown chunk holding `tag`, so that files differ)."""
    vp8x = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunks = [(b"VP8X", vp8x), (b"VP8 ", inner)]
    if tag:
        chunks.append((b"XTAG", tag))
    return riff_webp(chunks)


def jpeg_with_segments(exif_segments, icc_parts, tag=b""):
    """SMALL_JPEG (16 × 16) after `exif_segments` APP1 EXIF segments of 64 KB (the first's
    IFD claiming 65,535 entries) and an ICC profile in `icc_parts` APP2 segments."""
    jpeg = bytearray(SMALL_JPEG[:2])
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0xFFFF)
    for i in range(exif_segments):
        payload = b"Exif\x00\x00" + tiff + (tag + bytes([i & 255])) * 1
        payload = payload.ljust(65533, b"\x01")
        jpeg += b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    for i in range(icc_parts):
        payload = (b"ICC_PROFILE\x00" + bytes([i + 1, icc_parts])).ljust(65533, b"\x02")
        jpeg += b"\xff\xe2" + (len(payload) + 2).to_bytes(2, "big") + payload
    return bytes(jpeg + SMALL_JPEG[2:])


def probe_gif_bomb(api, run, pid):
    """GIF: a logical screen of 16 × 16 (what the server measures, and budgets a preview's
    memory by) whose first frame is 7,800 × 7,800: 42 KB of LZW that the decoder writes into
    a frame buffer of its own, 243 MB. Six at once must each be stored or refused (422
    `image_too_large`), the server's memory up by less than the 512 MiB previews may take
    at once (FERRY_PREVIEW_MEMORY_MIB) + 100 MB; another user's requests answered within
    5 s meanwhile. Controls: a 64 × 64 GIF written the same way is stored with a preview
    (the writer is right), and one whose screen says 7,800 × 7,800 is refused (422)."""
    token, _ = register(api, f"{run}gif")
    other, _ = register(api, f"{run}gifo")
    small = upload(api, token, "small.gif", gif_image((64, 64), [(64, 64)], b"ctl"), "image/gif")
    small = stored_as(*small)
    honest = upload(api, token, "honest.gif", gif_image((7800, 7800), [(7800, 7800)], b"big"), "image/gif")
    files = [
        (f"bomb{i}.gif", gif_image((16, 16), [(7800, 7800)], bytes([i, 1, 2])), "image/gif")
        for i in range(6)
    ]
    answers, grew, watch, took, bystander = all_at_once(api, token, files, pid, other)
    fine, text = outcome(answers)
    control = bool(small and small.get("width") == 64 and small.get("thumbnail"))
    report(
        "a GIF frame larger than its screen",
        control
        and said(*honest) == "422 image_too_large"
        and fine
        and grew < PREVIEW_BOUND
        and bystander.worst < 5
        and not bystander.failures,
        f"six of {len(files[0][1]):,} bytes (screen 16x16, frame 7800x7800) at once: {text} in "
        f"{took:.1f} s; {watch.said()} (+{grew / 1e6:.0f} MB, bound {PREVIEW_BOUND / 1e6:.0f}); "
        f"{bystander.said()}; controls: 64x64 {'stored with a preview' if control else f'NOT stored with a preview: {small}'}, "
        f"screen 7800x7800 {said(*honest)}",
    )


def probe_png_profile_bomb(api, run, pid):
    """PNG: a 16 × 16 image with an iCCP chunk (its colour profile) of 245 KB of zlib that
    inflates to 240 MiB. The decoder inflates a profile whenever it reads the header: when
    the image is measured and when its preview is made. Six at once must each be stored or
    refused, the server's memory up by less than the 512 MiB previews may take + 100 MB,
    another user answered within 5 s meanwhile. Control: the image without the chunk is
    stored with a preview."""
    token, _ = register(api, f"{run}icc")
    other, _ = register(api, f"{run}icco")
    small = stored_as(*upload(api, token, "plain.png", png_with([(b"tEXt", b"c\x00" + run.encode())]), "image/png"))
    profile = b"icc\x00\x00" + zlib_zeros(240 * MIB)
    files = [
        (f"icc{i}.png", png_with([(b"tEXt", f"c\x00{run} {i}".encode()), (b"iCCP", profile)]), "image/png")
        for i in range(6)
    ]
    answers, grew, watch, took, bystander = all_at_once(api, token, files, pid, other)
    fine, text = outcome(answers)
    control = bool(small and small.get("width") == 16 and small.get("thumbnail"))
    report(
        "a PNG colour profile that inflates to 240 MiB",
        control and fine and grew < PREVIEW_BOUND and bystander.worst < 5 and not bystander.failures,
        f"six of {len(files[0][1]):,} bytes at once: {text} in {took:.1f} s; {watch.said()} "
        f"(+{grew / 1e6:.0f} MB, bound {PREVIEW_BOUND / 1e6:.0f}); {bystander.said()}; "
        f"control without the profile: {'stored with a preview' if control else f'NOT stored with a preview: {small}'}",
    )


def probe_webp_bomb(api, run, pid):
    """WebP: an extended WebP whose canvas (VP8X) says 16 × 16, what the server measures and
    budgets by, holding a VP8 bitstream of 12,000 × 12,000 (1.6 MB of zeros, see
    `vp8_blank`) that the decoder decodes whole (216 MB of planes) before it compares the
    two sizes. Six at once must each be stored or refused, the server's memory up by less
    than the 512 MiB previews may take + 100 MB, another user answered within 5 s. Controls:
    the same writer's 64 × 64 is stored with a preview, its 12,000 × 12,000 without the
    canvas is refused (422 `image_too_large`)."""
    token, _ = register(api, f"{run}webp")
    other, _ = register(api, f"{run}webpo")
    small = stored_as(*upload(api, token, "small.webp", riff_webp([(b"VP8 ", vp8_blank(64, 64))]), "image/webp"))
    big = vp8_blank(12000, 12000)
    honest = upload(api, token, "honest.webp", riff_webp([(b"VP8 ", big)]), "image/webp")
    files = [
        (f"bomb{i}.webp", webp_canvas(16, 16, big, f"{run} {i}".encode()), "image/webp")
        for i in range(6)
    ]
    answers, grew, watch, took, bystander = all_at_once(api, token, files, pid, other)
    fine, text = outcome(answers)
    control = bool(small and small.get("width") == 64 and small.get("thumbnail"))
    report(
        "a WebP canvas smaller than its bitstream",
        control
        and said(*honest) == "422 image_too_large"
        and fine
        and grew < PREVIEW_BOUND
        and bystander.worst < 5
        and not bystander.failures,
        f"six of {len(files[0][1]):,} bytes (canvas 16x16, VP8 12000x12000) at once: {text} in "
        f"{took:.1f} s; {watch.said()} (+{grew / 1e6:.0f} MB, bound {PREVIEW_BOUND / 1e6:.0f}); "
        f"{bystander.said()}; controls: VP8 64x64 {'stored with a preview' if control else f'NOT stored with a preview: {small}'}, "
        f"VP8 12000x12000 {said(*honest)}",
    )


def probe_gif_frames(api, run, pid):
    """GIF: 16 × 16 with 20,000 frames and then one saying 65,535 × 65,535 (GIF sets no
    limit on either; the preview is of the first frame): stored within 10 s, the server's
    memory up by less than 100 MB."""
    token, _ = register(api, f"{run}frames")
    gif = gif_image((16, 16), [(16, 16)] * 20_000 + [(65535, 65535, 1)], b"frm")
    watch = RssWatch(pid)
    started = time.monotonic()
    status, answer = upload(api, token, "frames.gif", gif, "image/gif")
    took = time.monotonic() - started
    grew = watch.stop()
    stored = stored_as(status, answer)
    report(
        "a GIF of 20,000 frames",
        bool(stored) and took < 10 and grew < 100_000_000,
        f"{len(gif):,} bytes: {said(status, answer)}"
        + (f", {stored.get('width')}x{stored.get('height')}, preview {stored.get('thumbnail')}" if stored else "")
        + f" in {took:.1f} s; {watch.said()} (+{grew / 1e6:.0f} MB)",
    )


def probe_jpeg_segments(api, run, pid):
    """JPEG: 16 × 16 after 200 EXIF segments (APP1; the first's IFD claims 65,535 entries)
    and a 255-part ICC profile (APP2), 30 MB in all, two at once: each stored (they are
    valid JPEGs) within 20 s, the server's memory up by less than six times what was sent,
    another user answered within 5 s meanwhile."""
    token, _ = register(api, f"{run}segs")
    other, _ = register(api, f"{run}segso")
    files = [(f"segs{i}.jpg", jpeg_with_segments(200, 255, bytes([i])), "image/jpeg") for i in range(2)]
    sent = sum(len(f[1]) for f in files)
    answers, grew, watch, took, bystander = all_at_once(api, token, files, pid, other)
    fine, text = outcome(answers)
    stored = all(stored_as(*a) for a in answers)
    report(
        "JPEGs of 30 MB of EXIF and ICC segments",
        stored and took < 20 and grew < 6 * sent and bystander.worst < 5 and not bystander.failures,
        f"two of {len(files[0][1]):,} bytes at once: {text} in {took:.1f} s; {watch.said()} "
        f"(+{grew / 1e6:.0f} MB, bound {6 * sent / 1e6:.0f}); {bystander.said()}",
    )


# What a browser or a webview would run or render as a page: WHATWG's JavaScript MIME types,
# HTML, XML (XHTML, SVG, XSLT), VBScript, PDF.
JAVASCRIPT_TYPES = {
    "application/ecmascript", "application/javascript", "application/x-ecmascript",
    "application/x-javascript", "text/ecmascript", "text/javascript", "text/javascript1.0",
    "text/javascript1.1", "text/javascript1.2", "text/javascript1.3", "text/javascript1.4",
    "text/javascript1.5", "text/jscript", "text/livescript", "text/x-ecmascript",
    "text/x-javascript",
}


def active(content_type):
    essence = content_type.split(";")[0].strip().lower()
    return (
        essence in JAVASCRIPT_TYPES
        or any(word in essence for word in ("html", "xml", "svg", "xsl", "script"))
        or essence == "application/pdf"
    )


def guarded_headers(headers):
    """What is wrong with a file answer's headers (protocol.md, Download): none when it
    says attachment, nosniff, a sandboxing CSP, and a type nothing runs."""
    wrong = []
    if not headers.get("content-disposition", "").startswith("attachment"):
        wrong.append(f"Content-Disposition {headers.get('content-disposition')!r}")
    if headers.get("x-content-type-options", "").lower() != "nosniff":
        wrong.append(f"X-Content-Type-Options {headers.get('x-content-type-options')!r}")
    csp = headers.get("content-security-policy", "")
    if "sandbox" not in csp or "default-src 'none'" not in csp:
        wrong.append(f"Content-Security-Policy {csp!r}")
    if active(headers.get("content-type", "")):
        wrong.append(f"Content-Type {headers.get('content-type')!r}")
    return wrong


def probe_served_types(api, run):
    """Polyglots and lying types, and what is served back. Bytes whose magic numbers say
    another type than declared are refused (415 `media_mismatch`); what is stored is
    served with `Content-Disposition: attachment`, `X-Content-Type-Options: nosniff`,
    `Content-Security-Policy: default-src 'none'; sandbox`, and HTML, SVG, XML, scripts
    and PDF as `application/octet-stream` (protocol.md, Download), whether declared so or
    sniffed from an `application/octet-stream`. Each file below must be refused with 415 or
    stored and served so (a thumbnail too), byte for byte."""
    token, _ = register(api, f"{run}types")
    html = f"<html><body><script>alert(document.domain)</script>{run}</body></html>\n".encode()
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script><!--{run}--></svg>\n'.encode()
    xml_svg = b'<?xml version="1.0"?>\n' + svg
    js = f"alert(document.domain); // {run}\n".encode()
    files = [
        ("page.html", "text/html", html),
        ("page.xhtml", "application/xhtml+xml", xml_svg.replace(b"<svg", b"<html")),
        ("image.svg", "image/svg+xml", svg),
        ("image-xml.svg", "image/svg+xml", xml_svg),
        ("data.xml", "text/xml", xml_svg),
        ("style.xsl", "text/xsl", b'<xsl:stylesheet version="1.0"/>' + run.encode()),
        ("a.js", "application/javascript", js + b"a"),
        ("b.js", "text/javascript", js + b"b"),
        ("c.js", "text/ecmascript", js + b"c"),
        ("d.js", "application/x-javascript", js + b"d"),
        ("e.js", "text/javascript1.5", js + b"e"),
        ("f.js", "text/jscript", js + b"f"),
        ("g.js", "text/livescript", js + b"g"),
        ("h.vbs", "text/vbscript", b'MsgBox "' + run.encode() + b'"\n'),
        ("doc.pdf", "application/pdf", b"%PDF-1.4\n" + html),
        ("sniffed-page.bin", "application/octet-stream", html + b"s"),
        ("sniffed-svg.bin", "application/octet-stream", xml_svg + b"s"),
        ("sniffed-pdf.bin", "application/octet-stream", b"%PDF-1.4\n" + html + b"s"),
        ("page.txt", "text/plain", html + b"t"),
        ("gif.js", "image/gif", b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;alert(1);//" + run.encode()),
        ("png-page.png", "image/png", blank_png(16, 16, f"poly {run}".encode()) + html),
        ("jpeg-page.jpg", "image/jpeg", SMALL_JPEG + html),
    ]
    lies = [
        ("page-as.png", "image/png", html + b"l"),
        ("png-as.txt", "text/plain", blank_png(16, 16, f"lie1 {run}".encode())),
        ("png-as.jpg", "image/jpeg", blank_png(16, 16, f"lie2 {run}".encode())),
        ("text-as.pdf", "application/pdf", b"not a pdf " + run.encode()),
    ]
    wrong = []
    served = []
    for name, declared, data in files + lies:
        status, answer = upload(api, token, name, data, declared)
        attachment = stored_as(status, answer)
        if (name, declared, data) in lies:
            if said(status, answer) != "415 media_mismatch":
                wrong.append(f"{name} ({declared}): {said(status, answer)}, not 415")
            continue
        if not attachment:
            if said(status, answer) != "415 media_mismatch":
                wrong.append(f"{name} ({declared}): {said(status, answer)}")
            else:
                served.append(f"{name} refused 415")
            continue
        got, headers, body = fetch(api, token, f"/attachments/{attachment['id']}")
        bad = guarded_headers(headers)
        if got != 200 or body != data:
            bad.append(f"download {got}, {len(body)} of {len(data)} bytes")
        if attachment.get("thumbnail"):
            got, preview, _ = fetch(api, token, f"/attachments/{attachment['id']}/thumbnail")
            bad += [f"thumbnail {w}" for w in guarded_headers(preview)] + ([f"thumbnail {got}"] if got != 200 else [])
        served.append(f"{name} stored as {attachment['content_type']}, served as {headers.get('content-type')}")
        if bad:
            wrong.append(f"{name} ({declared}, stored as {attachment['content_type']}): {'; '.join(bad)}")
    report(
        "polyglots, lying types and what is served",
        not wrong,
        (f"WRONG: {' | '.join(wrong)}; " if wrong else "")
        + f"{len(files)} files and {len(lies)} lies; " + ", ".join(served),
    )


def probe_ranges(api, run):
    """Range abuse on a download: many, overlapping, suffix, reversed, past the end. Only
    `bytes=N-` is promised (206 with `Content-Range`, the rest of the file); any other
    answer may be the whole file (200) or 416, but never more than the file once, a body
    other than the bytes it says, or a Content-Length that is not the body's; the server
    answers /healthz after."""
    token, _ = register(api, f"{run}range")
    data = os.urandom(100_000)
    status, answer = upload(api, token, "r.bin", data, "application/octet-stream")
    attachment = stored_as(status, answer)
    assert attachment, (status, answer)
    size = len(data)
    ranges = [
        "bytes=5-", "bytes=0-", f"bytes={size - 1}-", f"bytes={size}-", f"bytes={size * 10}-",
        "bytes=99999999999999999999-", "bytes=0-10,5-20", "bytes=0-99,0-99,50-150",
        ",".join(["bytes=0-"] + ["0-"] * 300), "bytes=" + ",".join(f"{i}-{i + 10}" for i in range(0, 3000, 5)),
        "bytes=-10", "bytes=-0", f"bytes=-{size * 2}", "bytes=10-5", "bytes=a-", "bytes=-", "bytes=--5",
        "bytes=0-0", f"bytes=0-{size * 10}", "items=0-5", "bytes=+5-", "bytes= 5-",
    ]
    wrong, seen = [], {}
    for value in ranges:
        got, headers, body = fetch(api, token, f"/attachments/{attachment['id']}", {"Range": value})
        length = headers.get("content-length")
        problem = None
        if got == 200:
            if body != data:
                problem = f"200 with {len(body)} bytes that are not the file"
        elif got == 206:
            match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers.get("content-range", ""))
            if not match:
                problem = f"206 with Content-Range {headers.get('content-range')!r}"
            else:
                first, last, total = map(int, match.groups())
                if total != size or body != data[first : last + 1] or len(body) > size:
                    problem = f"206 {headers.get('content-range')} with {len(body)} bytes that are not those"
        elif got != 416:
            problem = f"{got}"
        if length is not None and int(length) != len(body):
            problem = (problem or f"{got}") + f", Content-Length {length} for {len(body)} bytes"
        if problem:
            wrong.append(f"{value[:40]!r}: {problem}")
        seen.setdefault(f"{got}", []).append(value[:24])
    resume = fetch(api, token, f"/attachments/{attachment['id']}", {"Range": "bytes=5-"})
    conn = http.client.HTTPConnection(api.host, api.port, timeout=10)
    conn.request("GET", "/healthz")
    healthy = conn.getresponse().status
    conn.close()
    report(
        "Range abuse on a download",
        not wrong and resume[0] == 206 and resume[2] == data[5:] and healthy == 200,
        (f"WRONG: {'; '.join(wrong)}; " if wrong else "")
        + "; ".join(f"{status}: {', '.join(repr(v) for v in values)}" for status, values in seen.items())
        + f"; /healthz after: {healthy}",
    )


def probe_offset_games(api, run):
    """Chunks out of order and offset games on a 10 MiB upload (chunks of 4 MiB): a chunk
    at another offset than the server holds is 409 `conflict` (ahead, behind, overlapping,
    repeated), a malformed Upload-Offset 400, a chunk over 4 MiB 413 `too_large`; two
    PATCHes racing at one offset count once (one 200, one 409); once stored, a repeat
    of the last chunk (even with other bytes) gets the same answer and changes nothing.
    Every refusal leaves the offset as it was, and the downloaded file's SHA-256 is the
    declared one."""
    token, _ = register(api, f"{run}offsets")
    data = os.urandom(10 * MIB)
    chunk = 4 * MIB
    status, state = declare(api, token, "o.bin", len(data), "application/octet-stream", sha256_hex(data))
    assert status == 201, (status, state)
    upload_id = state["id"]
    seen, wrong = {}, []

    def offset():
        return api.call("GET", f"/uploads/{upload_id}", None, token)[1].get("offset")

    cut_short = []

    def attempt(label, expected, offset_header, body, offset_after, who=token):
        headers = {"Content-Type": "application/offset+octet-stream"}
        if offset_header is not None:
            headers["Upload-Offset"] = offset_header
        if who:
            headers["Authorization"] = f"Bearer {who}"
        conn = http.client.HTTPConnection(api.host, api.port, timeout=60)
        try:
            conn.request("PATCH", f"/api/v1/uploads/{upload_id}", body=body, headers=headers)
        except OSError as e:
            # Answered before the chunk was read, and closed under it: the answer is
            # there only for a client that reads after its write failed.
            cut_short.append(f"{label} ({e.__class__.__name__})")
        try:
            response = conn.getresponse()
            got, raw = response.status, response.read()
            answer = json.loads(raw) if raw else None
        except (OSError, ValueError, http.client.HTTPException) as e:
            got, answer = repr(e), None
        conn.close()
        now = offset()
        seen[label] = f"{said(got, answer)} (offset {now})"
        if said(got, answer) != expected or now != offset_after:
            wrong.append(f"{label}: {said(got, answer)} offset {now}, expected {expected} offset {offset_after}")

    attempt("the second chunk first", "409 conflict", str(chunk), data[chunk : 2 * chunk], 0)
    attempt("no Upload-Offset", "400 invalid_request", None, data[:chunk], 0)
    attempt("Upload-Offset -1", "400 invalid_request", "-1", data[:chunk], 0)
    attempt("Upload-Offset 0x0", "400 invalid_request", "0x0", data[:chunk], 0)
    attempt("Upload-Offset 2^64", "400 invalid_request", str(1 << 64), data[:chunk], 0)
    attempt("4 MiB + 1 at 0", "413 too_large", "0", data[: chunk + 1], 0)
    stranger, _ = register(api, f"{run}offsets2")
    attempt("another user's chunk", "404 not_found", "0", data[:chunk], 0, who=stranger)
    attempt("a chunk without a token", "401 unauthorized", "0", data[:chunk], 0, who=None)
    attempt("the first chunk", "200", "0", data[:chunk], chunk)
    attempt("the first chunk again", "409 conflict", "0", data[:chunk], chunk)
    attempt("overlapping by one byte", "409 conflict", str(chunk - 1), data[chunk - 1 : 2 * chunk - 1], chunk)
    attempt("skipping a chunk", "409 conflict", str(2 * chunk), data[2 * chunk :], chunk)
    attempt("an empty chunk", "400 invalid_request", str(chunk), b"", chunk)
    race = [None, None]

    def racer(i):
        race[i] = patch(api, token, upload_id, chunk, data[chunk : 2 * chunk])

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    raced = sorted(said(*r) for r in race)
    seen["two at once at 4 MiB"] = f"{', '.join(raced)} (offset {offset()})"
    if raced != ["200", "409 conflict"] or offset() != 2 * chunk:
        wrong.append(f"two at once: {raced}, offset {offset()}")
    attempt("the last chunk", "200", str(2 * chunk), data[2 * chunk :], len(data))
    garbage = os.urandom(len(data) - 2 * chunk)
    attempt("the last chunk again, other bytes", "200", str(2 * chunk), garbage, len(data))
    attempt("the first chunk again after, other bytes", "200", "0", garbage[:chunk], len(data))
    got, headers, body = fetch(api, token, f"/attachments/{upload_id}")
    if cut_short:
        note(
            "chunks answered before they are read",
            f"{len(cut_short)} PATCHes of 4 MiB were answered and their connection closed while "
            f"the chunk was still being sent (the client's write failed; the answer could be read "
            f"after): {', '.join(cut_short)}",
        )
    report(
        "chunks out of order and offset games",
        not wrong and got == 200 and sha256_hex(body) == sha256_hex(data),
        (f"WRONG: {'; '.join(wrong)}; " if wrong else "")
        + "; ".join(f"{k}: {v}" for k, v in seen.items())
        + f"; download {got}, {len(body):,} bytes, sha256 {'as declared' if sha256_hex(body) == sha256_hex(data) else 'NOT as declared'}",
    )


def probe_same_content(api, run, data_dir):
    """The same content many times, and by someone else. A user who stored bytes and
    declares them again gets the upload stored at once, 120 times, none counted as
    unfinished (a new upload is still accepted after) and stored once (with --data-dir: one
    blob). Someone else declaring the same hash, size and type must not get it stored at
    once (201 at offset 0, no attachment: a hash is not the bytes), bytes that do not hash
    to it are refused (400), and the first user's file stays 404 to them."""
    alice, _ = register(api, f"{run}samea")
    mallory, _ = register(api, f"{run}samem")
    data = os.urandom(MIB)
    digest = sha256_hex(data)
    status, first = upload(api, alice, "same.bin", data, "application/octet-stream")
    first = stored_as(status, first)
    assert first, (status, first)
    again = {}
    for i in range(120):
        status, answer = declare(api, alice, f"same{i}.bin", len(data), "application/octet-stream", digest)
        key = "stored at once" if status == 201 and answer.get("attachment") else said(status, answer)
        again[key] = again.get(key, 0) + 1
    other = os.urandom(1000)
    after, state = declare(api, alice, "new.bin", len(other), "application/octet-stream", sha256_hex(other))
    if after == 201:
        api.call("DELETE", f"/uploads/{state['id']}", None, alice)
    blobs = None
    if data_dir:
        blobs = sum(1 for d, _, names in os.walk(os.path.join(data_dir, "files", "blobs")) for n in names if n == digest)
    status, theirs = declare(api, mallory, "same.bin", len(data), "application/octet-stream", digest)
    given = status == 201 and bool(theirs.get("attachment"))
    at_zero = status == 201 and theirs.get("offset") == 0 and not theirs.get("attachment")
    forged = said(*patch(api, mallory, theirs["id"], 0, os.urandom(len(data)))) if at_zero else "-"
    download = fetch(api, mallory, f"/attachments/{first['id']}")[0]
    report(
        "the same content many times, and by someone else",
        again == {"stored at once": 120}
        and after == 201
        and blobs in (None, 1)
        and at_zero
        and forged == "400 invalid_request"
        and download == 404,
        f"declared again 120 times: {again}; a new upload after: {after}; "
        + (f"blobs of it on disk: {blobs}; " if blobs is not None else "")
        + f"another user declaring its hash: {status} "
        + ("GIVEN THE FILE" if given else f"offset {theirs.get('offset')}")
        + f", other bytes sent to it: {forged}; their download of the file: {download}",
    )


def probe_foreign_ids(api, run):
    """Another user's ids. An upload's id answers only its owner (others 404 on GET, PATCH
    and DELETE); a file answers its uploader before it is sent and the conversation's
    members after (others 404 on the download and the thumbnail, the same answer as for an
    id that does not exist); a send names only the sender's own stored, unsent uploads (400
    `invalid_request` for another's, sent or not, even one the sender may download); a
    sent upload cannot be cancelled (409). Upload ids are random (UUIDv4)."""
    alice, alice_id = register(api, f"{run}ida")
    bob, bob_id = register(api, f"{run}idb")
    mallory, mallory_id = register(api, f"{run}idm")
    chat = acquaint(api, alice, bob, bob_id)
    theirs = acquaint(api, mallory, bob, bob_id)
    own = acquaint(api, mallory, alice, alice_id)
    unsent = stored_as(*upload(api, alice, "unsent.png", blank_png(64, 64, f"u {run}".encode()), "image/png"))
    sent = stored_as(*upload(api, alice, "sent.png", blank_png(64, 64, f"s {run}".encode()), "image/png"))
    status, message = post_entry(api, alice, chat, body="for bob", attachments=[sent["id"]])
    assert status == 201 and unsent and sent, (status, message)
    nothing = str(uuid.uuid4())

    def route(token, method, path):
        if method == "PATCH":
            got, answer = patch(api, token, path.split("/")[2], 0, b"x")
            return got, code_of(answer), message_of(answer)
        got, _, body = fetch(api, token, path, method=method)
        return (got, *error_of(body)) if got >= 400 else (got, None, None)

    checks = []
    for upload_id, label in ((unsent["id"], "alice's unsent upload"), (sent["id"], "alice's sent upload")):
        for method, path in (
            ("GET", f"/uploads/{upload_id}"),
            ("PATCH", f"/uploads/{upload_id}"),
            ("DELETE", f"/uploads/{upload_id}"),
            ("GET", f"/attachments/{upload_id}"),
            ("GET", f"/attachments/{upload_id}/thumbnail"),
        ):
            got = route(mallory, method, path)
            baseline = route(mallory, method, path.replace(upload_id, nothing))
            checks.append((f"mallory {method} {path.replace(upload_id, label)}", got, (404, *baseline[1:])))
    for method, path in (("GET", f"/uploads/{sent['id']}"), ("DELETE", f"/uploads/{sent['id']}")):
        checks.append((f"bob (a member) {method} {path.replace(sent['id'], 'the upload')}", route(bob, method, path)[:2], (404, "not_found")))
    checks.append(("bob downloads the file", route(bob, "GET", f"/attachments/{sent['id']}")[:1], (200,)))

    def send_naming(token, conversation, upload_id):
        got, answer = post_entry(api, token, conversation, body="", attachments=[upload_id])
        return got, code_of(answer)

    checks += [
        ("mallory sends alice's unsent upload", send_naming(mallory, own, unsent["id"]), (400, "invalid_request")),
        ("mallory sends alice's sent upload", send_naming(mallory, own, sent["id"]), (400, "invalid_request")),
        ("bob sends on the file he may download", send_naming(bob, theirs, sent["id"]), (400, "invalid_request")),
        ("alice cancels her sent upload", route(alice, "DELETE", f"/uploads/{sent['id']}")[:2], (409, "conflict")),
        ("alice's unsent upload is still hers", route(alice, "GET", f"/uploads/{unsent['id']}")[:1], (200,)),
    ]
    versions = {uuid.UUID(unsent["id"]).version, uuid.UUID(sent["id"]).version}
    wrong = [f"{label}: {got}, expected {expected}" for label, got, expected in checks if tuple(got) != tuple(expected)]
    report(
        "another user's upload, file and thumbnail ids",
        not wrong and versions == {4},
        (f"WRONG: {'; '.join(wrong)}; " if wrong else "")
        + f"{len(checks) - len(wrong)} of {len(checks)} as expected (404s alike with a random id's); upload id versions {versions}",
    )


def probe_removed_files(api, run):
    """Access after removal: a member removed from a group, or who left it, gets 404 for
    its files and their previews (a resumed download too), as for an id that does not
    exist, while the others still download; deleting the message takes its file away
    from everyone, its uploader included."""
    alice, _ = register(api, f"{run}rfa")
    people = [register(api, f"{run}rf{name}") for name in ("b", "c", "d")]
    for token, user_id in people:
        acquaint(api, alice, token, user_id)
    (bob, _), (carol, carol_id), (dave, dave_id) = people
    group = new_group(api, alice, "files", [p[1] for p in people])
    sent = stored_as(*upload(api, alice, "team.png", blank_png(64, 64, f"team {run}".encode()), "image/png"))
    status, message = post_entry(api, alice, group, body="for the team", attachments=[sent["id"]])
    assert status == 201 and sent and sent.get("thumbnail"), (status, message, sent)
    paths = {
        "download": (f"/attachments/{sent['id']}", None),
        "thumbnail": (f"/attachments/{sent['id']}/thumbnail", None),
        "resumed": (f"/attachments/{sent['id']}", {"Range": "bytes=5-"}),
    }

    def access(token):
        return {k: fetch(api, token, path, headers)[0] for k, (path, headers) in paths.items()}

    before = {who: access(token) for who, token in (("carol", carol), ("dave", dave))}
    removed = api.call("DELETE", f"/conversations/{group}/members/{carol_id}", None, alice)[0]
    left = api.call("DELETE", f"/conversations/{group}/members/{dave_id}", None, dave)[0]
    after = {who: access(token) for who, token in (("carol (removed)", carol), ("dave (left)", dave))}
    still = access(bob)
    deleted = said(*post_entry(api, alice, group, change={"kind": "delete", "target": message["id"]}))
    gone = {who: access(token) for who, token in (("bob", bob), ("alice (uploader)", alice))}
    expect_before = {"download": 200, "thumbnail": 200, "resumed": 206}
    report(
        "files after removal from a group, and after deletion",
        all(v == expect_before for v in before.values())
        and removed == left == 204
        and all(set(v.values()) == {404} for v in after.values())
        and still == expect_before
        and deleted == "201"
        and all(set(v.values()) == {404} for v in gone.values()),
        f"before: {before}; removed {removed}, left {left}; after: {after}; bob still: {still}; "
        f"message deleted {deleted}; after that: {gone}",
    )


def probe_file_names(api, run):
    """File names: path separators, NUL, control characters (C0, DEL, C1), `.`/`..`,
    blank, over 255 characters are refused (400 `invalid_request`); a name that is
    accepted is served in a Content-Disposition that cannot be broken out of (quotes,
    backslashes and non-ASCII replaced in `filename`, `filename*` percent-encoded UTF-8 that
    decodes to the name). Invisible direction marks (U+200E, U+200F, U+061C) are not
    overrides: noted if accepted."""
    token, _ = register(api, f"{run}names")
    refused_names = [
        "../etc/passwd", "a/b.txt", "a\\b.txt", "C:\\x.txt", "a\x00b.txt", "a\x1b[31mb.txt", "a\x7fb.txt",
        "a\x85b.txt", "a\x9bb.txt", "a\nb.txt", "a\rb.txt", "\t", ".", "..", "   ", "", "x" * 256,
    ]
    refused = {}
    for name in refused_names:
        status, answer = declare(api, token, name, 5, "text/plain", sha256_hex(b"hello"))
        refused[ascii(name)[:24]] = said(status, answer)
    wrong = [f"{k}: {v}" for k, v in refused.items() if v != "400 invalid_request"]
    odd = [
        'quote"semi;colon.txt', "percent%0d%0a.txt", "filename*=evil.txt", "x;filename=evil.html",
        "résumé 😀.txt", "line\u2028sep.txt", "page.html", "x" * 255,
    ]
    marks_ = {"LRM": "a\u200eb.txt", "RLM": "a\u200fb.txt", "ALM": "a\u061cb.txt"}
    served = []
    for name in odd + list(marks_.values()):
        data = f"hello {name} {run}".encode()
        status, answer = upload(api, token, name, data, "text/plain")
        attachment = stored_as(status, answer)
        if name in marks_.values():
            if attachment:
                note("file names with direction marks", f"{ascii(name)} accepted ({said(status, answer)}); only overrides are refused")
            continue
        if not attachment:
            wrong.append(f"{ascii(name)[:30]}: {said(status, answer)}")
            continue
        got, headers, body = fetch(api, token, f"/attachments/{attachment['id']}")
        disposition = headers.get("content-disposition", "")
        match = re.fullmatch(r"attachment; filename=\"([ !#-\[\]-~]*)\"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]*)", disposition)
        if got != 200 or body != data or not match or urllib.parse.unquote(match.group(2), errors="strict") != name:
            wrong.append(f"{ascii(name)[:30]}: {got}, Content-Disposition {disposition!r}")
        else:
            served.append(ascii(match.group(1))[:30])
    report(
        "file names",
        not wrong,
        (f"WRONG: {'; '.join(wrong)}; " if wrong else "")
        + f"{sum(v == '400 invalid_request' for v in refused.values())} of {len(refused)} bad names refused; "
        + f"odd names served as filename={', '.join(served)}",
    )


def tree_bytes(folder):
    """Files and bytes under `folder` (0, 0 when it is not there)."""
    files = size = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                size += os.path.getsize(os.path.join(root, name))
                files += 1
            except OSError:
                pass
    return files, size


def probe_cut_uploads(api, run, pid, data_dir):
    """Hundreds of unfinished uploads at once: 10 users × 20 `PATCH`es, each declaring a 4
    MiB chunk of an 8 MiB upload and sending 2 MiB of it, then cut off (a reset). A user's
    chunks are written two at a time, streamed, and a chunk cut off leaves nothing behind:
    with --data-dir the bytes under files/uploads stay within 10 users × 2 × 4 MiB meanwhile
    and none are left after (within 15 s); every offset stays 0; the server's memory grows
    by less than 200 MB."""
    users = [register(api, f"{run}cut{i}") for i in range(10)]
    targets = []
    for token, _ in users:
        for i in range(20):
            status, state = declare(api, token, f"cut{i}.bin", 8 * MIB, "application/octet-stream", sha256_hex(f"{run} {i}".encode()))
            assert status == 201, (status, state)
            targets.append((token, state["id"]))
    folder = os.path.join(data_dir, "files", "uploads") if data_dir else None
    most = [0, 0]
    sampling = [True]

    def sample():
        while sampling[0]:
            files, size = tree_bytes(folder)
            most[0], most[1] = max(most[0], files), max(most[1], size)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    if folder:
        sampler.start()
    watch = RssWatch(pid)
    body = memoryview(bytes(2 * MIB))
    sockets = []
    for token, upload_id in targets:
        sock = socket.create_connection((api.host, api.port), timeout=10)
        sock.sendall(
            (
                f"PATCH /api/v1/uploads/{upload_id} HTTP/1.1\r\nHost: {api.host}\r\n"
                f"Authorization: Bearer {token}\r\nUpload-Offset: 0\r\n"
                f"Content-Type: application/offset+octet-stream\r\nContent-Length: {4 * MIB}\r\n\r\n"
            ).encode()
        )
        sock.setblocking(False)
        sockets.append(sock)
    sent = [0] * len(sockets)
    idle_since = time.monotonic()
    give_up = idle_since + 10
    while time.monotonic() < give_up:
        pending = [i for i in range(len(sockets)) if sent[i] < len(body)]
        if not pending:
            break
        _, writable, _ = select.select([], [sockets[i] for i in pending], [], 0.25)
        moved = False
        for i in pending:
            if sockets[i] in writable:
                try:
                    sent[i] += sockets[i].send(body[sent[i] : sent[i] + 256 * 1024])
                    moved = True
                except (BlockingIOError, OSError):
                    pass
        if moved:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > 1.0:
            break
    time.sleep(1)
    during = tree_bytes(folder) if folder else None
    for sock in sockets:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    left = None
    if folder:
        deadline = time.monotonic() + 15
        left = tree_bytes(folder)
        while left[0] and time.monotonic() < deadline:
            time.sleep(0.2)
            left = tree_bytes(folder)
        sampling[0] = False
        sampler.join()
    grew = watch.stop()
    offsets = {}
    for token, upload_id in targets:
        got = api.call("GET", f"/uploads/{upload_id}", None, token)[1]
        offsets[got.get("offset")] = offsets.get(got.get("offset"), 0) + 1
        api.call("DELETE", f"/uploads/{upload_id}", None, token)
    bound = 10 * 2 * 4 * MIB
    report(
        "hundreds of unfinished uploads cut off",
        offsets == {0: len(targets)}
        and grew < 200_000_000
        and (not folder or (most[1] <= bound and left == (0, 0))),
        f"{sum(sent) / MIB:.0f} MiB sent on {len(sockets)} PATCHes of 10 users, then reset; "
        + (
            f"files/uploads at most {most[0]} files, {most[1] / MIB:.1f} MiB (bound {bound / MIB:.0f}), "
            f"{during[0]} files {during[1] / MIB:.1f} MiB just before the reset, {left[0]} files {left[1] / MIB:.1f} MiB left after; "
            if folder
            else "disk not checked (no --data-dir); "
        )
        + f"offsets after: {offsets}; {watch.said()} (+{grew / 1e6:.0f} MB)",
    )


def http_complete(buffer):
    """(status, bytes used) when `buffer` starts with a whole HTTP/1.1 answer, else None.
    A chunked body ends at the first CR LF 0 CR LF CR LF: JSON holds no CR."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buffer[:head_end].decode("latin-1").lower()
    status = int(head.split(" ", 2)[1])
    body = head_end + 4
    length = re.search(r"\r\ncontent-length:\s*(\d+)", head)
    if length:
        end = body + int(length.group(1))
        return (status, end) if len(buffer) >= end else None
    if "transfer-encoding: chunked" in head:
        if buffer.startswith(b"0\r\n\r\n", body):
            return status, body + 5
        last = buffer.find(b"\r\n0\r\n\r\n", body)
        return (status, last + 7) if last >= 0 else None
    return None


def probe_parked_polls(api, run, pid, metric):
    """Long-polls: 2,000 `GET /sync?since=…&wait=10` from three users at once (from 8 source
    addresses, 250 each, under the server's 500 connections an address), each asked again
    as soon as it is answered, for 12 s, with a message for each of the three after 5 s
    (which wakes those parked). A user's long-polls wait at most 16 at once
    (FERRY_MAX_CONNECTIONS_PER_USER); more are answered at once. Must hold:
    `ferry_sync_waiting` at most 48 (3 × 16); the server's memory up by at most 64 KiB a
    connection (125 MiB); a fourth user meanwhile answered without an error and within
    5 s each: their /sync, their sends, and their own long-poll, woken by a message for
    them. The latencies are reported."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 8192:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    except (ValueError, OSError):
        pass
    users = [register(api, f"{run}lp{i}") for i in range(3)]
    poker, _ = register(api, f"{run}lpx")
    chats = [direct(api, poker, user_id) for _, user_id in users]
    cursors = [drained(api, token) for token, _ in users]
    vee, _ = register(api, f"{run}lpv")
    dub, dub_id = register(api, f"{run}lpw")
    ex, ex_id = register(api, f"{run}lpy")
    talk = acquaint(api, vee, dub, dub_id)
    pokes = acquaint(api, dub, ex, ex_id)
    vee_cursor = drained(api, vee)
    if None in cursors or vee_cursor is None:
        report("thousands of parked long-polls", False, "inconclusive: a /sync cursor never came to rest")
        return
    asks = [
        (
            f"GET /api/v1/sync?since={urllib.parse.quote(cursors[u])}&wait=10 HTTP/1.1\r\n"
            f"Host: {api.host}\r\nAuthorization: Bearer {users[u][0]}\r\n\r\n"
        ).encode()
        for u in range(3)
    ]
    sources = [f"127.0.0.{20 + i}" for i in range(8)]
    selector = selectors.DefaultSelector()
    watch = RssWatch(pid)
    conns, refused = [], []
    for i in range(2000):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((sources[i % len(sources)], 0))
            sock.settimeout(5)
            sock.connect((api.host, api.port))
        except OSError as e:
            refused.append(repr(e))
            sock.close()
            continue
        sock.setblocking(False)
        conn = {"sock": sock, "user": i % 3, "buffer": b"", "sent": None, "open": True}
        selector.register(sock, selectors.EVENT_READ, conn)
        conns.append(conn)

    def ask(conn):
        try:
            conn["sock"].send(asks[conn["user"]])
            conn["sent"] = time.monotonic()
        except OSError:
            conn["open"] = False

    stop = threading.Event()
    latencies = {"sync": [], "send": [], "wake": []}
    failures, waiting = [], []

    def fourth_user():
        while not stop.is_set():
            for kind, call in (
                ("sync", lambda: api.call("GET", f"/sync?since={urllib.parse.quote(vee_cursor)}", None, vee)[0]),
                ("send", lambda: post_entry(api, vee, talk, body="still here")[0]),
            ):
                started = time.monotonic()
                try:
                    status = call()
                except Exception as e:  # noqa: BLE001
                    status = repr(e)
                latencies[kind].append(time.monotonic() - started)
                if status not in (200, 201):
                    failures.append(f"{kind} {status}")
            try:
                waiting.append(metric("ferry_sync_waiting", 0))
            except Exception as e:  # noqa: BLE001
                failures.append(f"metrics {e!r}")
            stop.wait(0.2)

    def wakes():
        for _ in range(3):
            if stop.is_set():
                return
            cursor = drained(api, ex, timeout=3)
            if cursor is None:
                failures.append("wake: no quiet cursor")
                continue
            got = {}

            def poll():
                try:
                    got["status"] = api.call("GET", f"/sync?since={urllib.parse.quote(cursor)}&wait=10", None, ex)[0]
                except Exception as e:  # noqa: BLE001
                    got["status"] = repr(e)
                got["at"] = time.monotonic()

            poller = threading.Thread(target=poll)
            poller.start()
            stop.wait(1.0)
            early = "at" in got
            post_entry(api, dub, pokes, body="wake up")
            sent = time.monotonic()
            poller.join(15)
            if got.get("status") != 200:
                failures.append(f"wake {got.get('status')}")
            elif early:
                failures.append("wake: answered before the message (not parked)")
            else:
                latencies["wake"].append(got["at"] - sent)
            stop.wait(0.5)

    helpers = [threading.Thread(target=fourth_user), threading.Thread(target=wakes)]
    started = time.monotonic()
    for conn in conns:
        ask(conn)
    for helper in helpers:
        helper.start()
    answered, statuses, held, closed = 0, {}, 0, 0
    poked = False
    unanswered_at = None
    while time.monotonic() < started + 12:
        for key, _ in selector.select(timeout=0.05):
            conn = key.data
            try:
                got = conn["sock"].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                got = b""
            if not got:
                selector.unregister(conn["sock"])
                conn["sock"].close()
                conn["open"] = False
                closed += 1
                continue
            conn["buffer"] += got
            while True:
                done = http_complete(conn["buffer"])
                if not done:
                    break
                status, used = done
                conn["buffer"] = conn["buffer"][used:]
                answered += 1
                statuses[status] = statuses.get(status, 0) + 1
                if time.monotonic() - conn["sent"] >= 1.0:
                    held += 1
                ask(conn)
        now = time.monotonic()
        if unanswered_at is None and now - started >= 1.5:
            unanswered_at = sum(1 for c in conns if c["open"] and c["sent"] and now - c["sent"] >= 1.0)
        if not poked and now - started >= 5:
            poked = True
            threading.Thread(target=lambda: [send_text(api, poker, chat, "wake") for chat in chats]).start()
    stop.set()
    for helper in helpers:
        helper.join()
    for conn in conns:
        if conn["open"]:
            selector.unregister(conn["sock"])
            conn["sock"].close()
    selector.close()
    grew = watch.stop()
    conn = http.client.HTTPConnection(api.host, api.port, timeout=10)
    conn.request("GET", "/healthz")
    healthy = conn.getresponse().status
    conn.close()

    def spread(values):
        if not values:
            return "none"
        values = sorted(values)
        return f"median {values[len(values) // 2] * 1000:.0f} ms, slowest {values[-1] * 1000:.0f} ms of {len(values)}"

    bound = 2000 * 64 * 1024
    slowest = max([0.0] + latencies["sync"] + latencies["send"] + latencies["wake"])
    report(
        "thousands of parked long-polls",
        not refused
        and waiting
        and max(waiting) <= 48
        and grew <= bound
        and not failures
        and slowest <= 5
        and len(latencies["wake"]) == 3
        and healthy == 200,
        f"{len(conns)} connections ({len(refused)} refused{': ' + refused[0] if refused else ''}); "
        f"{answered} answers in 12 s ({statuses}), {held} after waiting 1 s or more, "
        f"{unanswered_at} unanswered after 1.5 s, {closed} closed by the server; ferry_sync_waiting at most "
        f"{max(waiting) if waiting else '?'} (bound 48); {watch.said()} (+{grew / 1e6:.0f} MB, bound {bound / 1e6:.0f}); "
        f"the fourth user's /sync {spread(latencies['sync'])}, sends {spread(latencies['send'])}, "
        f"long-poll woken by a message {spread(latencies['wake'])}"
        + (f"; FAILED: {failures[:5]}" if failures else "")
        + f"; /healthz after: {healthy}",
    )


def probe_changes(api, run):
    """Changes by those who may not make them, or naming what they may not, are refused
    with protocol.md's codes and change nothing (the history after is the history before
    but for what was allowed): a non-author's edit or delete 403 `forbidden` (a group's
    owner may delete, not edit); a non-member's, a removed member's (even of their own
    message), or one naming a message of another conversation or none 404 `not_found`; one
    naming a change 400 `invalid_request`; an edit or a reaction of a deleted message 409
    `conflict`; a body on a deletion or reaction, an emoji on an edit or deletion, a file on
    a change 400; a change reusing a message's id 409. Deleting again is accepted; a
    deleted message resent with its old text stays deleted. Over the socket alike."""
    alice, alice_id = register(api, f"{run}cha")
    bob, bob_id = register(api, f"{run}chb")
    carol, carol_id = register(api, f"{run}chc")
    dave, _ = register(api, f"{run}chd")
    erin, erin_id = register(api, f"{run}che")
    pair = acquaint(api, alice, bob, bob_id)
    for token, user_id in ((carol, carol_id), (erin, erin_id)):
        acquaint(api, alice, token, user_id)
    group = new_group(api, alice, "changes", [bob_id, carol_id, erin_id])
    elsewhere = acquaint(api, dave, carol, carol_id)
    g_a = send_text(api, alice, group, "alice's group message")
    g_b = send_text(api, bob, group, "bob's group message")
    g_e = send_text(api, erin, group, "erin's group message")
    d_a = send_text(api, alice, pair, "alice's direct message")
    status, reaction = post_entry(api, bob, group, change={"kind": "react", "target": g_a["id"], "emoji": "👍"})
    assert status == 201, (status, reaction)
    old_text = "soon deleted"
    g_d = send_text(api, alice, group, old_text)
    status, _ = post_entry(api, alice, group, change={"kind": "delete", "target": g_d["id"]})
    assert status == 201, status
    assert api.call("DELETE", f"/conversations/{group}/members/{erin_id}", None, alice)[0] == 204
    carols_file = stored_as(*upload(api, carol, "c.txt", f"carol {run}".encode(), "text/plain"))
    readers = {group: alice, pair: alice, elsewhere: carol}
    before = {c: history(api, reader, c) for c, reader in readers.items()}

    def edit(target, body="new text"):
        return {"change": {"kind": "edit", "target": target}, "body": body}

    def delete(target):
        return {"change": {"kind": "delete", "target": target}}

    def react(target, emoji="🔥"):
        return {"change": {"kind": "react", "target": target, "emoji": emoji}}

    def reply(target):
        return {"reply_to": target, "body": "a reply"}

    itself = uuid7()
    tries = [
        ("bob edits alice's direct message", bob, pair, edit(d_a["id"]), "403 forbidden"),
        ("bob deletes alice's direct message", bob, pair, delete(d_a["id"]), "403 forbidden"),
        ("carol (a member) edits bob's", carol, group, edit(g_b["id"]), "403 forbidden"),
        ("carol (a member) deletes bob's", carol, group, delete(g_b["id"]), "403 forbidden"),
        ("alice (the owner) edits bob's", alice, group, edit(g_b["id"]), "403 forbidden"),
        ("dave (not a member) edits", dave, group, edit(g_a["id"]), "404 not_found"),
        ("dave deletes", dave, group, delete(g_a["id"]), "404 not_found"),
        ("dave reacts", dave, group, react(g_a["id"]), "404 not_found"),
        ("dave replies", dave, group, reply(g_a["id"]), "404 not_found"),
        ("dave reacts from his chat to a group message", dave, elsewhere, react(g_a["id"]), "404 not_found"),
        ("dave deletes from his chat a group message", dave, elsewhere, delete(g_a["id"]), "404 not_found"),
        ("carol replies from her chat to a group message", carol, elsewhere, reply(g_a["id"]), "404 not_found"),
        ("bob reacts from the direct chat to a group message", bob, pair, react(g_a["id"]), "404 not_found"),
        ("alice edits from the direct chat her group message", alice, pair, edit(g_a["id"]), "404 not_found"),
        ("erin (removed) edits her own", erin, group, edit(g_e["id"]), "404 not_found"),
        ("erin deletes her own", erin, group, delete(g_e["id"]), "404 not_found"),
        ("erin reacts", erin, group, react(g_a["id"]), "404 not_found"),
        ("erin replies", erin, group, reply(g_a["id"]), "404 not_found"),
        ("carol reacts to a reaction", carol, group, react(reaction["id"]), "400 invalid_request"),
        ("carol replies to a reaction", carol, group, reply(reaction["id"]), "400 invalid_request"),
        ("bob edits his reaction", bob, group, edit(reaction["id"]), "400 invalid_request"),
        ("bob deletes his reaction", bob, group, delete(reaction["id"]), "400 invalid_request"),
        ("alice edits her deleted message", alice, group, edit(g_d["id"]), "409 conflict"),
        ("carol reacts to the deleted message", carol, group, react(g_d["id"]), "409 conflict"),
        ("a change naming itself", carol, group, {**react(itself), "id": itself}, "404 not_found"),
        ("a change naming nothing", carol, group, react(uuid7()), "404 not_found"),
        ("a reply to nothing", carol, group, reply(uuid7()), "404 not_found"),
        ("a reaction with a body", carol, group, {**react(g_a["id"]), "body": "text"}, "400 invalid_request"),
        ("a deletion with a body", alice, group, {**delete(g_a["id"]), "body": "text"}, "400 invalid_request"),
        ("an edit with an emoji", alice, group, {"change": {"kind": "edit", "target": g_a["id"], "emoji": "🔥"}, "body": "x"}, "400 invalid_request"),
        ("a deletion with an emoji", alice, group, {"change": {"kind": "delete", "target": g_a["id"], "emoji": "🔥"}}, "400 invalid_request"),
        ("a blank edit", alice, group, edit(g_a["id"], body="   "), "400 invalid_request"),
        ("a reaction carrying a file", carol, group, {**react(g_a["id"]), "attachments": [carols_file["id"]]}, "400 invalid_request"),
        ("an edit under bob's message's id", alice, group, {**edit(g_a["id"]), "id": g_b["id"]}, "409 conflict"),
        ("an edit under its target's id", alice, group, {**edit(g_a["id"]), "id": g_a["id"]}, "409 conflict"),
        ("a reaction under a reaction's id", alice, group, {**react(g_a["id"]), "id": reaction["id"]}, "409 conflict"),
    ]
    seen = {}
    wrong = []
    for label, token, conversation, fields, expected in tries:
        got = said(*post_entry(api, token, conversation, **fields))
        seen[label] = got
        if got != expected:
            wrong.append(f"{label}: {got}, expected {expected}")
    # Allowed, and changing nothing that shows.
    again = post_entry(api, alice, group, **delete(g_d["id"]))
    resent = post_entry(api, alice, group, id=g_d["id"], body=old_text)
    if said(*again) != "201":
        wrong.append(f"deleting again: {said(*again)}, expected 201")
    if said(*resent) != "200" or resent[1].get("body") != "" or not resent[1].get("deleted_at"):
        wrong.append(f"the deleted message resent with its text: {said(*resent)} body {resent[1].get('body')!r}")
    to_deleted = post_entry(api, carol, group, **reply(g_d["id"]))
    note("a reply to a deleted message", f"{said(*to_deleted)} (protocol.md says only that an earlier reply still shows)")
    allowed = {again[1].get("id"), to_deleted[1].get("id") if to_deleted[0] == 201 else None} - {None}
    # Over the socket: the same refusals, as error frames.
    sockets = []
    try:
        bob_ws = Ws(api, bob)
        dave_ws = Ws(api, dave)
        sockets = [bob_ws, dave_ws]
        for ws, conversation, fields, expected, label in (
            (bob_ws, pair, edit(d_a["id"]), "forbidden", "socket: bob edits alice's"),
            (dave_ws, group, react(g_a["id"]), "not_found", "socket: dave reacts in the group"),
            (bob_ws, group, react(reaction["id"]), "invalid_request", "socket: bob reacts to a reaction"),
        ):
            frame_id = uuid7()
            ws.send({"type": "send", "message": {"id": frame_id, "conversation_id": conversation, "body": "", **fields}})
            frame, _ = ws.expect(lambda f: f.get("type") in ("ack", "error") and frame_id in (f.get("ref"), f.get("id")))
            got = frame.get("code") if frame["type"] == "error" else "ack"
            seen[label] = got
            if got != expected:
                wrong.append(f"{label}: {got}, expected {expected}")
    except (EOFError, TimeoutError, OSError, AssertionError) as e:
        wrong.append(f"the sockets: {e!r}")
    finally:
        for ws in sockets:
            ws.close()
    after = {c: history(api, reader, c) for c, reader in readers.items()}
    fields = ("seq", "sender_id", "body", "reply_to", "change", "edited_at", "edit_seq", "deleted_at")
    for conversation in before:
        old = {m["id"]: m for m in before[conversation]}
        new = {m["id"]: m for m in after[conversation]}
        for message_id, message in old.items():
            now = new.get(message_id)
            if now is None or any(message.get(f) != now.get(f) for f in fields):
                wrong.append(f"entry {message['seq']} changed: {message} -> {now}")
        extra = set(new) - set(old) - allowed
        if extra:
            wrong.append(f"new entries {[new[i] for i in extra]}")
    deleted_now = next(m for m in after[group] if m["id"] == g_d["id"])
    if deleted_now["body"] != "" or not deleted_now.get("deleted_at"):
        wrong.append(f"the deleted message now: {deleted_now}")
    report(
        "changes by the wrong people, of the wrong things",
        not wrong,
        (f"WRONG: {' | '.join(wrong)}; " if wrong else "")
        + f"{len(seen)} refusals as documented, the history unchanged but for a second deletion; "
        + f"deleting again {said(*again)}, the deleted message resent {said(*resent)} with body {resent[1].get('body')!r}",
    )


def probe_block_routes(api, run):
    """Every route through which a blocked user could still learn about the blocker or
    reach them, in a group both are in (bob, its owner, blocks alice): `GET /presence`
    lists neither to the other; no `presence` frame of bob reaches alice's sockets when he
    comes and goes; bob's watermarks read 0 to alice in the conversation list, `/sync`,
    `GET /conversations/{id}`, and the `members` and `conversation` frames announcing a
    removal; user search shows alice what it shows anyone; a new direct conversation is
    refused but the old one returned to read (200), nobody sends, replies or reacts in it
    (403), a group or an addition by either of the two that would join them is refused
    (403). Noted: a third party's group joining the two (protocol.md's "either one asking"
    leaves it open), and whether alice's long-poll is woken by bob reading the group."""
    alice, alice_id = register(api, f"{run}bka")
    bob, bob_id = register(api, f"{run}bkb")
    carol, carol_id = register(api, f"{run}bkc")
    dave, dave_id = register(api, f"{run}bkd")
    pair = acquaint(api, bob, alice, alice_id)
    for token, user_id in ((carol, carol_id), (dave, dave_id)):
        acquaint(api, bob, token, user_id)
    acquaint(api, carol, alice, alice_id)
    group = new_group(api, bob, "blocked", [alice_id, carol_id, dave_id])
    old = send_text(api, bob, pair, "before the block")
    send_text(api, bob, group, "hi all")
    said_last = send_text(api, carol, group, "hello")
    blocked = api.call("PUT", f"/blocks/{alice_id}", None, bob)[0]
    api.call("POST", f"/conversations/{group}/read", {"seq": said_last["seq"]}, bob)
    wrong, seen = [], {}
    sockets = []
    try:
        slim = Ws(api, alice, "?features=members")
        whole = Ws(api, alice)
        sockets = [slim, whole]
        comes = Ws(api, bob)
        comes.close()
        time.sleep(0.7)  # presence is announced after the socket closes
        heard = slim.until_pong() + whole.until_pong()
        told = [f for f in heard if f.get("type") == "presence" and f.get("user_id") == bob_id]
        seen["presence frames of bob"] = len(told)
        if told:
            wrong.append(f"alice heard bob come and go: {told}")
        removed = api.call("DELETE", f"/conversations/{group}/members/{dave_id}", None, bob)[0]
        frame, _ = slim.expect(lambda f: f.get("type") == "members" and f.get("conversation_id") == group)
        bob_in_slim = next((m for m in frame["members"] if m["user"]["id"] == bob_id), None)
        frame, _ = whole.expect(lambda f: f.get("type") == "conversation" and f["conversation"]["id"] == group)
        bob_in_whole = member_row(frame["conversation"], bob_id)
        seen["removal"] = removed
        seen["bob in the members frame"] = marks(bob_in_slim)
        seen["bob in the conversation frame"] = marks(bob_in_whole)
        if bob_in_slim is None or marks(bob_in_slim) != (0, 0):
            wrong.append(f"the members frame shows bob {marks(bob_in_slim)}")
        if marks(bob_in_whole) != (0, 0):
            wrong.append(f"the conversation frame shows bob {marks(bob_in_whole)}")
    except (EOFError, TimeoutError, OSError, AssertionError) as e:
        wrong.append(f"the sockets: {e!r}")
    finally:
        for ws in sockets:
            ws.close()
    presence = {
        "alice's /presence": [p for p in api.call("GET", "/presence", None, alice)[1] if p["user_id"] == bob_id],
        "bob's /presence": [p for p in api.call("GET", "/presence", None, bob)[1] if p["user_id"] == alice_id],
    }
    for label, listed in presence.items():
        if listed:
            wrong.append(f"{label} lists the other: {listed}")
    listed = next(c for c in api.call("GET", "/conversations?limit=500", None, alice)[1]["conversations"] if c["id"] == group)
    synced = next(c for c in api.call("GET", "/sync?limit=500", None, alice)[1]["conversations"] if c["id"] == group)
    viewed = api.call("GET", f"/conversations/{group}", None, alice)[1]
    for label, view in (("the list", listed), ("/sync", synced), ("GET", viewed)):
        seen[f"bob in {label}"] = marks(member_row(view, bob_id))
        if marks(member_row(view, bob_id)) != (0, 0):
            wrong.append(f"{label} shows alice bob's marks {marks(member_row(view, bob_id))}")
    query = f"/users?q={urllib.parse.quote(run + 'bkb')}"
    hers, anyones = api.call("GET", query, None, alice)[1], api.call("GET", query, None, carol)[1]
    if hers != anyones or any(set(u) - {"id", "username", "display_name", "created_at"} for u in hers):
        wrong.append(f"search shows alice {hers}, carol {anyones}")
    own_group = new_group(api, alice, "mine", [carol_id])
    carols_group = new_group(api, carol, "carol's", [alice_id])
    reach = [
        ("alice opens a direct conversation again", said(*api.call("POST", "/conversations", {"kind": "direct", "member_ids": [bob_id]}, alice)[:2]), "200"),
        ("alice sends in it", said(*post_entry(api, alice, pair, body="hello?")), "403 forbidden"),
        ("alice reacts in it", said(*post_entry(api, alice, pair, change={"kind": "react", "target": old["id"], "emoji": "👋"})), "403 forbidden"),
        ("alice replies in it", said(*post_entry(api, alice, pair, body="re", reply_to=old["id"])), "403 forbidden"),
        ("bob sends in it", said(*post_entry(api, bob, pair, body="hello?")), "403 forbidden"),
        ("alice makes a group with bob", said(*api.call("POST", "/conversations", {"kind": "group", "title": "x", "member_ids": [bob_id]}, alice)[:2]), "403 forbidden"),
        ("alice adds bob to her group", said(*api.call("POST", f"/conversations/{own_group}/members", {"user_ids": [bob_id]}, alice)[:2]), "403 forbidden"),
    ]
    for label, got, expected in reach:
        seen[label] = got
        if got != expected:
            wrong.append(f"{label}: {got}, expected {expected}")
    # A third party joining the two: protocol.md's "either one asking" leaves it open (and
    # refusing it would tell the third party of the block).
    third = {
        "carol adds bob to her group with alice": said(*api.call("POST", f"/conversations/{carols_group}/members", {"user_ids": [bob_id]}, carol)[:2]),
        "carol makes a group of both": said(*api.call("POST", "/conversations", {"kind": "group", "title": "x", "member_ids": [alice_id, bob_id]}, carol)[:2]),
    }
    if any(v[0] == "2" for v in third.values()):
        note("a third party's group joins a blocked pair", "; ".join(f"{k}: {v}" for k, v in third.items()) + " (then alice's messages there reach bob)")
    # Does bob's reading wake alice's long-poll? (protocol.md does not say.)
    latest = send_text(api, carol, group, "one more")
    cursor = drained(api, alice, timeout=5)
    woken = "not measured (no quiet cursor)"
    if cursor:
        got = {}

        def poll():
            started = time.monotonic()
            got["page"] = api.call("GET", f"/sync?since={urllib.parse.quote(cursor)}&wait=6", None, alice)[1]
            got["took"] = time.monotonic() - started

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.5)
        api.call("POST", f"/conversations/{group}/read", {"seq": latest["seq"]}, bob)
        poller.join(15)
        came = [c for c in got["page"]["conversations"] if c["id"] == group]
        woken = f"answered after {got['took']:.1f} s of 6 with {len(came)} conversation(s)"
        if came and marks(member_row(came[0], bob_id)) != (0, 0):
            wrong.append(f"alice's long-poll shows bob's marks {marks(member_row(came[0], bob_id))}")
        if got["took"] < 5.5 or came:
            note(
                "a blocked user's /sync and the blocker's reads",
                f"alice's /sync?wait=6 from a quiet cursor, bob reading the group 0.5 s in: {woken}, "
                "though nothing she sees changed (bob's marks read 0 to her): when he read shows",
            )
    report(
        "what a blocked user learns and reaches",
        blocked == 204 and not wrong,
        (f"WRONG: {' | '.join(wrong)}; " if wrong else "")
        + f"block {blocked}; " + "; ".join(f"{k}: {v}" for k, v in seen.items())
        + f"; alice's long-poll when bob read: {woken}",
    )


def probe_stranger_group(api, run):
    """A stranger's group (mallory makes a group of alice, a stranger to him, and frank, his
    contact): until alice accepts, her watermarks read 0 to the others, no receipt, typing
    or presence of hers reaches them, and the group does not show as changed in their
    `/sync` when she reads (finding 7 was about a direct conversation); nor in the
    `conversation` frame announcing a removal (`members` frames list only the changed
    rows). Her own marks do move, for her. Whether her reading wakes mallory's long-poll
    is noted."""
    mallory, mallory_id = register(api, f"{run}sgm")
    frank, frank_id = register(api, f"{run}sgf")
    alice, alice_id = register(api, f"{run}sga")
    acquaint(api, mallory, frank, frank_id)
    group = new_group(api, mallory, "hello", [alice_id, frank_id])
    hi = send_text(api, mallory, group, "hi there, click this")
    wrong, seen = [], {}
    sockets = []
    cursor = drained(api, mallory)
    got = {}
    try:
        slim = Ws(api, mallory, "?features=members")
        whole = Ws(api, mallory)
        hers = Ws(api, alice)
        sockets = [slim, whole, hers]

        def poll():
            started = time.monotonic()
            got["page"] = api.call("GET", f"/sync?since={urllib.parse.quote(cursor)}&wait=6", None, mallory)[1]
            got["took"] = time.monotonic() - started

        poller = threading.Thread(target=poll)
        if cursor:
            poller.start()
        time.sleep(0.5)
        for frame in (
            {"type": "delivered", "conversation_id": group, "seq": hi["seq"]},
            {"type": "read", "conversation_id": group, "seq": hi["seq"]},
            {"type": "typing", "conversation_id": group, "typing": True},
        ):
            hers.send(frame)
        hers.until_pong()
        time.sleep(0.3)
        heard = slim.until_pong() + whole.until_pong()
        leaked = [f for f in heard if f.get("type") in ("receipt", "typing", "presence") and f.get("user_id") == alice_id]
        seen["frames of alice"] = len(leaked)
        if leaked:
            wrong.append(f"mallory heard {leaked}")
        if cursor:
            poller.join(15)
            came = [c for c in got["page"]["conversations"] if c["id"] == group]
            seen["mallory's long-poll"] = f"{len(came)} conversation(s) after {got['took']:.1f} s of 6"
            if came:
                wrong.append(f"mallory's /sync shows the group changed when alice read: {marks(member_row(came[0], alice_id))}")
            elif got["took"] < 5.5:
                note("a stranger's long-poll and a request being read", f"mallory's /sync?wait=6 answered after {got['took']:.1f} s (empty) when alice read: the time of her read shows")
        removed = api.call("DELETE", f"/conversations/{group}/members/{frank_id}", None, mallory)[0]
        frame, _ = slim.expect(lambda f: f.get("type") == "members" and f.get("conversation_id") == group)
        alice_slim = next((m for m in frame["members"] if m["user"]["id"] == alice_id), None)
        frame, _ = whole.expect(lambda f: f.get("type") == "conversation" and f["conversation"]["id"] == group)
        alice_whole = member_row(frame["conversation"], alice_id)
        seen["removal"] = removed
        seen["alice in the members frame"] = marks(alice_slim)
        seen["alice in the conversation frame"] = marks(alice_whole)
        if alice_slim is not None and marks(alice_slim) != (0, 0):
            wrong.append(f"the members frame shows alice {marks(alice_slim)}")
        if marks(alice_whole) != (0, 0):
            wrong.append(f"the conversation frame shows alice {marks(alice_whole)}")
    except (EOFError, TimeoutError, OSError, AssertionError) as e:
        wrong.append(f"the sockets: {e!r}")
    finally:
        for ws in sockets:
            ws.close()
    view = api.call("GET", f"/conversations/{group}", None, mallory)[1]
    own = api.call("GET", f"/conversations/{group}", None, alice)[1]
    listed = [p for p in api.call("GET", "/presence", None, mallory)[1] if p["user_id"] == alice_id]
    seen["alice to mallory"] = f"{marks(member_row(view, alice_id))} {member_row(view, alice_id)['state']}"
    seen["alice to herself"] = marks(member_row(own, alice_id))
    if marks(member_row(view, alice_id)) != (0, 0) or member_row(view, alice_id)["state"] != "request":
        wrong.append(f"mallory sees alice {member_row(view, alice_id)}")
    if marks(member_row(own, alice_id)) != (hi["seq"], hi["seq"]):
        wrong.append(f"alice's own marks {marks(member_row(own, alice_id))}")
    if listed:
        wrong.append(f"mallory's /presence lists alice: {listed}")
    report(
        "a stranger's group before it is accepted",
        not wrong and cursor is not None,
        (f"WRONG: {' | '.join(wrong)}; " if wrong else "")
        + ("" if cursor else "no quiet /sync cursor for mallory; ")
        + "; ".join(f"{k}: {v}" for k, v in seen.items()),
    )


def probe_report_flood(api, run):
    """Report flooding: reports share the membership-change limit with blocks and
    accepting (FERRY_MEMBERSHIP_RATE, 30 a minute per user): 40 reports in a row from one
    user are answered 201 at most 30 times, then 429 `rate_limited` with Retry-After and
    retry_after_ms; a block by that user is refused as well meanwhile, while another user's
    report goes through. Needs a server with the default rate: run it alone, `--only
    report_flood`."""
    flooder, _ = register(api, f"{run}flood")
    bystander, _ = register(api, f"{run}floodo")
    targets = [register(api, f"{run}floodt{i}")[1] for i in range(4)]
    answers = []
    for i in range(40):
        status, headers, answer = call_with_headers(
            api, "POST", "/reports", {"user_id": targets[i % 4], "reason": f"spam {i} " + "x" * 900}, flooder
        )
        answers.append((status, headers, answer))
    accepted = sum(1 for s, _, _ in answers if s == 201)
    first = next(((i, s, h, a) for i, (s, h, a) in enumerate(answers) if s != 201), None)
    after_first = {s for s, _, _ in answers[first[0]:]} if first else set()
    block = call_with_headers(api, "PUT", f"/blocks/{targets[0]}", None, flooder)
    other = call_with_headers(api, "POST", "/reports", {"user_id": targets[0], "reason": "spam"}, bystander)
    limited = (
        first is not None
        and first[1] == 429
        and code_of(first[3]) == "rate_limited"
        and first[2].get("retry-after", "").isdigit()
        and int(first[2]["retry-after"]) >= 1
        and isinstance(first[3]["error"].get("retry_after_ms"), int)
        and after_first == {429}
    )
    report(
        "report flooding",
        accepted <= 30 and limited and block[0] == 429 and other[0] == 201,
        f"{accepted} of 40 reports accepted; "
        + (
            f"the first refused (report {first[0] + 1}): {first[1]} {code_of(first[3])}, Retry-After "
            f"{first[2].get('retry-after')}, retry_after_ms {first[3].get('error', {}).get('retry_after_ms') if isinstance(first[3], dict) else None}; "
            f"after it: {sorted(after_first)}"
            if first
            else "none refused (is FERRY_MEMBERSHIP_RATE raised on this server?)"
        )
        + f"; a block by the flooder then: {block[0]} {code_of(block[2])}; another user's report: {other[0]}",
    )


def probe_cancelled_requests(api, run):
    """Requests whose client hangs up mid-way must leave the server as it was: 30 rounds of
    150 requests (two thirds /sync reads, a third sends) reset 0 to 4 ms after they were
    sent (as the long-poll probe's 2,000 connections are at its end), each round followed
    by a sign-up, GET /me, /sync and a send; then 100 more of those. None may be answered
    with a 5xx (500 `internal` is "any other fault"), and everyone signed up meanwhile signs
    in after (their row was committed). On Postgres, a request dropped while sqlx's BEGIN
    was under way left its pooled connection inside that transaction, which is not
    cancel-safe (transact-rs/sqlx#4393): later statements ran in it, and the first to fail
    there (a sign-up's INSERT in a READ ONLY one) left the connection `idle in transaction
    (aborted)`, failing every request it served until recycled."""
    users = [register(api, f"{run}cx{i}") for i in range(6)]
    peer, peer_id = register(api, f"{run}cxp")
    chats = [direct(api, token, peer_id) for token, _ in users]
    for (token, _), chat in zip(users, chats):
        for k in range(5):
            send_text(api, token, chat, f"before {k}")
    faults, signed_up = {}, []

    def count(label, status):
        if not isinstance(status, int) or status >= 500:
            faults[f"{label} {status}"] = faults.get(f"{label} {status}", 0) + 1

    def everyday(i):
        token, _ = users[i % len(users)]
        count("GET /me", api.call("GET", "/me", None, token)[0])
        count("GET /sync", api.call("GET", "/sync?limit=50", None, token)[0])
        count("send", post_entry(api, token, chats[i % len(chats)], body=f"after {i}")[0])

    started = time.monotonic()
    cancelled = 0
    for round_ in range(30):
        sockets = []
        for i in range(150):
            token, _ = users[i % len(users)]
            try:
                sock = socket.create_connection((api.host, api.port), timeout=5)
                if i % 3 == 2:
                    body = json.dumps({"id": uuid7(), "body": "cancelled"}).encode()
                    sock.sendall(
                        (
                            f"POST /api/v1/conversations/{chats[i % len(chats)]}/messages HTTP/1.1\r\n"
                            f"Host: {api.host}\r\nAuthorization: Bearer {token}\r\n"
                            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                        ).encode()
                        + body
                    )
                else:
                    sock.sendall(
                        (
                            f"GET /api/v1/sync?limit=500&messages=5 HTTP/1.1\r\nHost: {api.host}\r\n"
                            f"Authorization: Bearer {token}\r\n\r\n"
                        ).encode()
                    )
                sockets.append(sock)
            except OSError:
                pass
        time.sleep(round_ % 5 * 0.001)
        for sock in sockets:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        cancelled += len(sockets)
        name = f"{run}cxn{round_}"
        try:
            status, _, _ = api.call(
                "POST", "/auth/register",
                {"username": name, "password": "correct horse battery", "display_name": name},
            )
        except OSError as e:
            status = repr(e)
        count("sign-up", status)
        if status == 201:
            signed_up.append(name)
        everyday(round_)
    took = time.monotonic() - started
    for i in range(100):
        everyday(i)
    lost = []
    for name in signed_up:
        status, _, _ = api.call("POST", "/auth/login", {"username": name, "password": "correct horse battery"})
        count("sign-in", status)
        if status == 401:
            lost.append(name)
    report(
        "requests cancelled mid-way",
        not faults and not lost,
        f"{cancelled} requests reset within 4 ms of being sent, in {took:.1f} s; after them "
        f"{len(signed_up)} sign-ups and {30 + 100} rounds of GET /me, /sync and a send: "
        + (f"FAULTS {faults}" if faults else "no 5xx")
        + (f"; {len(lost)} of those signed up could not sign in after (their row is gone): {lost[:3]}" if lost else "; all signed in again"),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base", nargs="?", help="the server, e.g. http://127.0.0.1:18080")
    parser.add_argument("--pid", type=int, help="the server's process id (its memory is read)")
    parser.add_argument(
        "--data-dir", help="the server's FERRY_DATA_DIR (the file probes look at its files)"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="run only these probes (names as listed by --list)"
    )
    parser.add_argument("--list", action="store_true", help="list the probes' names and stop")
    args = parser.parse_args()
    if not args.base and not args.list:
        parser.error("the server's address is needed")
    api = Api(args.base or "http://127.0.0.1")
    run = "p" + uuid.uuid4().hex[:6]

    def metrics(name, missing=0):
        """A metric's value from /metrics, or `missing` when the server has none."""
        url = urllib.parse.urlparse(args.base)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        return missing

    # In the order they run: each name is its function's without `probe_`.
    probes = [
        (probe_nul, api, run),
        (probe_strangers, api, run, metrics),
        (probe_lockout, args.base, run),
        (probe_reordering_names, api, run),
        (probe_report_others_message, api, run),
        (probe_stranger_sync, api, run),
        (probe_block_in_group, api, run),
        # Before any other preview: the peak of preview memory counts from the server's start.
        (probe_late_jpeg, api, run, args.pid, metrics),
        (probe_finish_once, api, run, metrics),
        (probe_previews, api, run, args.pid, metrics),
        (probe_open_uploads, api, run),
        (probe_cancel_mid_chunk, api, run, args.data_dir),
        # While no other HTTP connection is open.
        (probe_unread_download, api, run, metrics),
        (probe_held_chunks, api, run, args.pid),
        (probe_silent_connections, api),
        (probe_membership, api, run, metrics),
        (probe_sync_bytes, api, run, args.pid),
        (probe_half_sent, api),
        # The second hardening round's.
        (probe_changes, api, run),
        (probe_block_routes, api, run),
        (probe_stranger_group, api, run),
        (probe_report_flood, api, run),
        (probe_served_types, api, run),
        (probe_file_names, api, run),
        (probe_ranges, api, run),
        (probe_offset_games, api, run),
        (probe_same_content, api, run, args.data_dir),
        (probe_foreign_ids, api, run),
        (probe_removed_files, api, run),
        (probe_cancelled_requests, api, run),
        (probe_parked_polls, api, run, args.pid, metrics),
        (probe_cut_uploads, api, run, args.pid, args.data_dir),
        # Last: decoding bombs leave the server's allocator with more memory than before.
        (probe_gif_frames, api, run, args.pid),
        (probe_jpeg_segments, api, run, args.pid),
        (probe_gif_bomb, api, run, args.pid),
        (probe_png_profile_bomb, api, run, args.pid),
        (probe_webp_bomb, api, run, args.pid),
    ]
    # Probes that need a server configured otherwise than the rest: only with --only.
    alone = {
        "report_flood": "needs the server's default FERRY_MEMBERSHIP_RATE (30 a minute), which "
        "the other probes raise: run it alone against such a server, --only report_flood",
    }
    names = [function.__name__.removeprefix("probe_") for function, *_ in probes]
    if args.list:
        print("\n".join(names))
        return
    unknown = set(args.only or []) - set(names)
    if unknown:
        parser.error(f"no probe {', '.join(sorted(unknown))}; there are: {', '.join(names)}")

    for (function, *function_args), name in zip(probes, names):
        if args.only and name not in args.only:
            continue
        if not args.only and name in alone:
            skip(name, alone[name])
            continue
        # A probe that breaks down is a failure with its reason; the others still run.
        try:
            function(*function_args)
        except Exception as e:  # noqa: BLE001
            report(function.__name__, False, f"broke down: {e!r}")
    print(f"{len(FAILURES)} failed" + (f": {', '.join(FAILURES)}" if FAILURES else ""))
    sys.exit(len(FAILURES))


if __name__ == "__main__":
    main()
