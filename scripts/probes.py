#!/usr/bin/env python3
"""The review's probes, run against a running Ferry server from outside, usually a
release build on loopback: the hardening review's (issue 12) and the outside security
review's (issue 33).

    python3 scripts/probes.py http://127.0.0.1:8080 [--pid PID] [--data-dir DIR]

Each probe prints PASS or FAIL with what it saw; the exit status is the number of
failures. Standard library only.

Run the server on a fresh data directory (the preview probes read the server's peak of
preview memory, `ferry_preview_bytes_peak`, which counts from its start; the download
probe waits until no other HTTP connection is open), with its defaults otherwise
(`FERRY_PREVIEW_MEMORY_MIB` 512, the 10 GiB quota, 100 MiB files, the 10 s header and
30 s send timeouts) and with generous send, sign-up and membership rates (the probes
register a few hundred users from one address, send a few hundred messages quickly,
and block, accept and report), e.g.
    FERRY_SEND_RATE=10000 FERRY_SEND_BURST=10000 FERRY_AUTH_RATE_PER_IP=100000 \\
    FERRY_MEMBERSHIP_RATE=1000 ferry-server --bind 127.0.0.1:18080 --data-dir "$(mktemp -d)"
(add DATABASE_URL=postgres://.../a_fresh_database for Postgres).

--pid PID      the server's process id: the /sync, image and upload probes also read its
               resident memory from /proc (the server must run on this machine).
--data-dir DIR the server's FERRY_DATA_DIR (with files in a directory, the default):
               the cancel probe checks that DIR/files/uploads/<upload id> holds no file.
The whole run takes about two minutes (the download probe waits for the server's
send timeout, the connection probes for its header timeout).
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import select
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--pid", type=int, help="the server's process id (its memory is read)")
    parser.add_argument(
        "--data-dir", help="the server's FERRY_DATA_DIR (the cancel probe looks at its files)"
    )
    args = parser.parse_args()
    api = Api(args.base)
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

    def probe(function, *args):
        # A probe that breaks down is a failure with its reason; the others still run.
        try:
            function(*args)
        except Exception as e:  # noqa: BLE001
            report(function.__name__, False, f"broke down: {e!r}")

    probe(probe_nul, api, run)
    probe(probe_strangers, api, run, metrics)
    probe(probe_lockout, args.base, run)
    probe(probe_reordering_names, api, run)
    probe(probe_report_others_message, api, run)
    probe(probe_stranger_sync, api, run)
    probe(probe_block_in_group, api, run)
    # Before any other preview: the peak of preview memory counts from the server's start.
    probe(probe_late_jpeg, api, run, args.pid, metrics)
    probe(probe_finish_once, api, run, metrics)
    probe(probe_previews, api, run, args.pid, metrics)
    probe(probe_open_uploads, api, run)
    probe(probe_cancel_mid_chunk, api, run, args.data_dir)
    # While no other HTTP connection is open.
    probe(probe_unread_download, api, run, metrics)
    probe(probe_held_chunks, api, run, args.pid)
    probe(probe_silent_connections, api)
    probe(probe_membership, api, run, metrics)
    probe(probe_sync_bytes, api, run, args.pid)
    probe(probe_half_sent, api)
    print(f"{len(FAILURES)} failed" + (f": {', '.join(FAILURES)}" if FAILURES else ""))
    sys.exit(len(FAILURES))


if __name__ == "__main__":
    main()
