#!/usr/bin/python3
"""Hostile and broken input against a running gateway, while a viewer watches.

One table of bad requests, run against the real webrtc-gateway serving a
real RTSP camera on path "cam". A WebRTC viewer (webrtcbin, WHEP) decodes
that path the whole time. Each row names a request and what the client must
get back: the HTTP status (or the websocket error message and close code)
and a piece of the reason. Three groups:

- WHEP: bad offers (malformed, truncated, empty, audio only, VP8 only, H.265
  only, too large, wrong or missing Content-Type), unknown paths, wrong
  methods (405 with Allow), path tricks (.., %2e%2e, %2F, //, %00, %0a, raw
  control bytes, 10 KB), unknown, deleted and stale session URLs, bad
  trickle-ICE PATCHes on a live session that must stay usable.
- snapshots (/cam/snapshot.jpg): bad ?width= values (not digits, signs,
  out of 16..3840, overflowing, escapes), wrong methods and names.
- websocket (/cam/ws, docs/websocket.md), through a minimal client written
  here on a plain socket: invalid JSON, not an object, unknown type, wrong
  order, bad candidate members, server-only types, a bad answer, oversized
  frames, binary frames, invalid UTF-8, an unmasked frame, an oversized ping.
- raw TCP: garbage instead of HTTP, a request line and then silence, a
  header over 64 KiB, a Content-Length longer than the body, bad and chunked
  oversized bodies, pipelined requests.

Every row runs even when an earlier one failed; the failures of a group are
reported together. After each group the viewer must have decoded more
frames, the gateway must be running and answer the index, and its log must
hold no CRITICAL, no GLib WARNING, no ERROR (ours or GStreamer's), no failed
assertion and no sanitizer report. At the end only the viewer's session may
be left (gw_sessions 1), the gateway must exit 0 on SIGTERM, and the log is
checked once more.

A few answers come from libsoup, before any of our code runs, and are
accepted as they are: a request that is not valid HTTP gets "400 Bad
Request" with an empty body; a header block over libsoup's 64 KiB limit and
a body cut short are closed without an answer; a client that goes silent
mid-request is kept (there is no idle timeout yet). A body that must not be
read (a negative, conflicting or too large Content-Length) is refused by
our early handler before libsoup reads it.

GW_HOSTILE_LOG=FILE keeps the gateway's log in FILE, for reading.
"""

import base64
import json
import os
import re
import socket
import struct
import time

import gwtest as g
import test_gateway_lib as gl

IO_TIMEOUT = 5.0          # every socket read is bounded by this
MAX_READ = 1 << 20        # and by this many bytes
BODY_LIMIT = 64 * 1024    # server/httpcore.h MAX_BODY_SIZE
WS_LIMIT = 64 * 1024      # server/wsproto.h MAX_FRAME_SIZE

# Signs of a crash, a failed check or a sanitizer report in the log.
# The gateway writes GLib's warnings as "HH:MM:SS WARN  ...".
# GStreamer's ERROR-level debug lines count too: an ICE agent logging an
# error for a client's garbage candidate means the garbage got too far.
BAD_LOG = re.compile(r"CRITICAL|[Aa]ssertion|-WARNING \*\*|ERROR: AddressSanitizer"
                     r"|runtime error:|LeakSanitizer|Segmentation fault"
                     r"|SUMMARY: \w+Sanitizer|^\d\d:\d\d:\d\d (WARN|CRITICAL|ERROR) "
                     r"|^\d+:\d\d:\d\d\.\d+\s+\d+\s+0x[0-9a-f]+\s+ERROR\s")


# --------------------------------------------------------------------------
# HTTP over a plain socket (any bytes may be sent)


def connect(port):
    s = socket.create_connection((g.GW_IP, port), timeout=IO_TIMEOUT)
    s.settimeout(IO_TIMEOUT)
    return s


def recv_until_closed(s, timeout=IO_TIMEOUT):
    """Reads until the server closes or `timeout` passes; returns (bytes,
    closed)."""
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < MAX_READ:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


class Response:
    def __init__(self, status, reason_phrase, headers, body):
        self.status = status
        self.reason_phrase = reason_phrase
        self.headers = headers
        self.body = body

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "%d %s %r" % (self.status, self.reason_phrase, self.text()[:200])


def parse_responses(data):
    """Splits raw bytes into the HTTP responses they hold (Content-Length
    bodies, or up to the end)."""
    out = []
    for _ in range(1000):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)", lines[0])
        if not m:
            break
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers.setdefault(k.strip().lower(), v.strip())
        n = headers.get("content-length")
        if n is not None:
            body, data = rest[:int(n)], rest[int(n):]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body, data = b"", rest
            for _ in range(1000):
                size_line, _, data = data.partition(b"\r\n")
                size = int(size_line.split(b";")[0] or b"0", 16)
                body += data[:size]
                data = data[size + 2:]
                if size == 0:
                    break
        else:
            body, data = rest, b""
        out.append(Response(int(m.group(1)), m.group(2), headers, body))
    return out


def request_bytes(method, target, headers=(), body=b""):
    if isinstance(body, str):
        body = body.encode()
    if isinstance(target, str):
        target = target.encode()
    h = [("Host", "%s" % g.GW_IP)] + list(headers)
    if body and not any(k.lower() in ("content-length", "transfer-encoding")
                        for k, _ in h):
        h.append(("Content-Length", str(len(body))))
    h.append(("Connection", "close"))
    head = method.encode() + b" " + target + b" HTTP/1.1\r\n"
    head += b"".join(("%s: %s\r\n" % kv).encode() for kv in h)
    return head + b"\r\n" + body


def exchange(port, raw, half_close=False, timeout=IO_TIMEOUT):
    """Sends raw bytes on a new connection; returns (responses, closed)."""
    s = connect(port)
    try:
        s.sendall(raw)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        data, closed = recv_until_closed(s, timeout)
    finally:
        s.close()
    return parse_responses(data), closed


# --------------------------------------------------------------------------
# A minimal websocket client (RFC 6455) on a plain socket


class WsClient:
    def __init__(self, port, path, key=None):
        self.s = connect(port)
        self.buf = b""
        key = key or base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(request_bytes("GET", path, [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"),
        ]).replace(b"Connection: close\r\n", b""))
        deadline = time.monotonic() + IO_TIMEOUT
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("websocket read timed out")
        self.s.settimeout(left)
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk
        if len(self.buf) > MAX_READ:
            raise g.TestFailure("websocket: the server sent over %d bytes"
                                % MAX_READ)

    def send_frame(self, opcode, payload, mask=True, fin=True):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            head = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mbit | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            head += key
        self.s.sendall(head + payload)

    def send_json(self, obj):
        self.send_frame(0x1, json.dumps(obj))

    def read_frame(self, deadline):
        """(opcode, payload) of the next frame from the server."""
        while len(self.buf) < 2:
            self._fill(deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7f, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill(deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._fill(deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        g.check(not b1 & 0x80, "websocket: the server masked a frame")
        g.check(n <= MAX_READ, "websocket: a %d-byte frame from the server"
                % n)
        while len(self.buf) < off + n:
            self._fill(deadline)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0f, payload

    def messages(self, timeout=IO_TIMEOUT, until=None):
        """Reads frames until a close frame, the end of the stream, `until`
        (a predicate on a JSON message) or `timeout`. Returns (messages,
        close code or None, closed)."""
        msgs = []
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            try:
                op, payload = self.read_frame(deadline)
            except (socket.timeout, TimeoutError):
                return msgs, None, False
            except (EOFError, ConnectionResetError):
                return msgs, None, True
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] \
                    if len(payload) >= 2 else None
                return msgs, code, True
            if op == 0x1:
                m = json.loads(payload.decode())
                msgs.append(m)
                if until and until(m):
                    return msgs, None, False
        return msgs, None, False

    def close(self):
        self.s.close()


# --------------------------------------------------------------------------
# The table


def offer_with(media_lines):
    """STATIC_OFFER's session part with other media lines."""
    head = gl.STATIC_OFFER.split("m=video")[0]
    return head + "\r\n".join(media_lines) + "\r\n"


def media(kind, pt, rtpmap, fmtp=None, direction="recvonly"):
    lines = ["m=%s 9 UDP/TLS/RTP/SAVPF %d" % (kind, pt), "c=IN IP4 0.0.0.0",
             "a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:gwE2",
             "a=ice-pwd:gwe2eTestPasswordOf24Chr",
             "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
             "a=setup:actpass", "a=mid:0", "a=" + direction, "a=rtcp-mux",
             "a=rtpmap:%d %s" % (pt, rtpmap)]
    if fmtp:
        lines.append("a=fmtp:%d %s" % (pt, fmtp))
    return lines


AUDIO_ONLY = offer_with(media("audio", 111, "opus/48000/2"))
VP8_ONLY = offer_with(media("video", 96, "VP8/90000"))
H265_ONLY = offer_with(media("video", 96, "H265/90000"))
SENDONLY = offer_with(media("video", 96, "H264/90000",
                            "packetization-mode=1;profile-level-id=42e01f",
                            direction="sendonly"))
SDP = ("Content-Type", "application/sdp")
FRAG = ("Content-Type", "application/trickle-ice-sdpfrag")
GOOD_FRAG = ("a=ice-ufrag:gwE2\r\na=ice-pwd:gwe2eTestPasswordOf24Chr\r\n"
             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"
             "a=candidate:1 1 UDP 2122252543 10.99.0.2 9 typ host\r\n")


def H(method, target, headers=(), body=b"", status=(), reason="",
      allow=None):
    """A row sending one HTTP request."""
    return {"kind": "http", "method": method, "target": target,
            "headers": list(headers), "body": body, "status": set(status),
            "reason": reason, "allow": allow}


def whep_rows():
    half = gl.STATIC_OFFER[:len(gl.STATIC_OFFER) // 2]
    big = "v=0\r\n" + "a=x-pad:" + "x" * BODY_LIMIT + "\r\n"
    long_name = "/" + "a" * 10240 + "/whep"
    return [
        ("malformed SDP", H("POST", "/cam/whep", [SDP], "garbage\r\nnot sdp",
                            {400}, "")),
        ("truncated offer", H("POST", "/cam/whep", [SDP], half, {400, 406},
                              "")),
        ("empty body", H("POST", "/cam/whep", [SDP], "", {400},
                         "empty SDP offer")),
        ("whitespace body", H("POST", "/cam/whep", [SDP], " \r\n", {400},
                              "empty SDP offer")),
        ("offer not UTF-8", H("POST", "/cam/whep", [SDP],
                              b"v=0\r\ns=\xff\xfe\r\n", {400}, "not SDP text")),
        ("audio-only offer", H("POST", "/cam/whep", [SDP], AUDIO_ONLY,
                               {400, 406}, "")),
        ("VP8-only offer", H("POST", "/cam/whep", [SDP], VP8_ONLY,
                             {400, 406}, "")),
        ("H.265-only offer", H("POST", "/cam/whep", [SDP], H265_ONLY,
                               {400, 406}, "")),
        ("sendonly offer", H("POST", "/cam/whep", [SDP], SENDONLY,
                             {400, 406}, "")),
        ("body 64 KiB + 1", H("POST", "/cam/whep", [SDP],
                              big[:BODY_LIMIT + 1], {413}, "too large")),
        ("wrong Content-Type", H("POST", "/cam/whep",
                                 [("Content-Type", "text/plain")],
                                 gl.STATIC_OFFER, {415}, "application/sdp")),
        ("no Content-Type", H("POST", "/cam/whep", [], gl.STATIC_OFFER,
                              {415}, "application/sdp")),
        ("unknown path", H("POST", "/nosuch/whep", [SDP], gl.STATIC_OFFER,
                           {404}, "unknown path")),
        ("GET on whep", H("GET", "/cam/whep", status={405},
                          reason="not allowed", allow="POST")),
        ("PUT on whep", H("PUT", "/cam/whep", [SDP], gl.STATIC_OFFER, {405},
                          "not allowed", allow="POST")),
        ("POST on the page", H("POST", "/cam/", [SDP], gl.STATIC_OFFER,
                               {405}, "not allowed", allow="GET")),
        ("DELETE on the index", H("DELETE", "/", status={405},
                                  reason="not allowed", allow="GET")),
        ("POST on ws", H("POST", "/cam/ws", status={405},
                         reason="not allowed", allow="GET")),
        ("dot-dot", H("GET", "/../../../../etc/passwd", status={404})),
        ("dot-dot in a path", H("GET", "/cam/../../etc/passwd",
                                status={404})),
        ("encoded dot-dot", H("GET", "/%2e%2e/%2e%2e/etc/passwd",
                              status={404})),
        ("encoded dot-dot name", H("POST", "/%2e%2e/whep", [SDP],
                                   gl.STATIC_OFFER, {404})),
        ("encoded slash", H("POST", "/cam%2Fwhep", [SDP], gl.STATIC_OFFER,
                            {404})),
        ("encoded slash in name", H("GET", "/..%2F..%2Fetc%2Fpasswd/",
                                    status={404})),
        ("double slash", H("POST", "//cam/whep", [SDP], gl.STATIC_OFFER,
                           {404})),
        ("double slash inside", H("POST", "/cam//whep", [SDP],
                                  gl.STATIC_OFFER, {404})),
        ("%00 in name", H("POST", "/cam%00/whep", [SDP], gl.STATIC_OFFER,
                          {404})),
        ("%0a in name", H("GET", "/cam%0a/", status={404})),
        ("raw control byte", H("GET", b"/ca\x01m/", status={400, 404})),
        ("raw high bytes", H("GET", b"/ca\xff\xfem/", status={400, 404})),
        ("bad escape", H("GET", "/cam%zz/", status={400, 404})),
        ("10 KB path", H("POST", long_name, [SDP], gl.STATIC_OFFER,
                         {400, 404, 414})),
        ("absolute-form target", H("GET", "http://%s/../etc/passwd"
                                   % g.GW_IP, status={400, 404})),
        ("unknown session PATCH", H("PATCH", "/cam/whep/" + "0" * 32,
                                    [FRAG], GOOD_FRAG, {404},
                                    "unknown session")),
        ("unknown session DELETE", H("DELETE", "/cam/whep/" + "0" * 32,
                                     status={404}, reason="unknown session")),
        ("websocket version 8", H("GET", "/cam/ws", [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "8")], status={400},
            reason="websocket")),
        ("OPTIONS on an unknown path", H("OPTIONS", "/nosuch/whep",
                                         status={404}, reason="unknown path")),
        ("bad session id", H("DELETE", "/cam/whep/..%2F..", status={404})),
    ]


def session_rows(location):
    """Bad PATCHes on a live session; the session must stay usable."""
    huge = "a=candidate:1 1 UDP 1 10.99.0.2 9 typ host\r\n" * 2000
    return [
        ("PATCH garbage", H("PATCH", location, [FRAG], "garbage\x01\r\n",
                            {400}, "not an SDP line")),
        ("PATCH no candidate", H("PATCH", location, [FRAG],
                                 "a=ice-ufrag:x\r\na=mid:0\r\n", {400},
                                 "no a=candidate")),
        ("PATCH not UTF-8", H("PATCH", location, [FRAG], b"a=\xff\xfe\r\n",
                              {400}, "not SDP text")),
        ("PATCH wrong type", H("PATCH", location, [SDP], GOOD_FRAG, {415},
                               "trickle-ice-sdpfrag")),
        ("PATCH no type", H("PATCH", location, [], GOOD_FRAG, {415},
                            "trickle-ice-sdpfrag")),
        ("PATCH huge", H("PATCH", location, [FRAG], huge[:BODY_LIMIT + 1],
                         {413}, "too large")),
        ("PATCH bad candidates", H(
            "PATCH", location, [FRAG],
            "a=mid:0\r\na=candidate:garbage\r\na=candidate:\r\n"
            "a=candidate:1 1 UDP x 10.99.0.2 9 typ host\r\n"
            "a=mid:999\r\na=candidate:1 1 UDP 1 10.99.0.2 9 typ host\r\n"
            "a=candidate:1 1 UDP 1 not-an-address 9 typ host\r\n",
            {400}, "line 2 is not an ICE candidate")),
        ("PATCH candidate, bad port", H(
            "PATCH", location, [FRAG],
            "a=candidate:1 1 UDP 1 10.99.0.2 70000 typ host\r\n",
            {400}, "not an ICE candidate")),
        ("PUT on a session", H("PUT", location, [SDP], gl.STATIC_OFFER,
                               {405}, "not allowed", allow="DELETE")),
        # The session survived all of the above.
        ("PATCH good", H("PATCH", location, [FRAG], GOOD_FRAG, {204})),
        ("DELETE", H("DELETE", location, status={200},
                     reason="session closed")),
        ("DELETE again", H("DELETE", location, status={404},
                           reason="unknown session")),
        ("PATCH after DELETE", H("PATCH", location, [FRAG], GOOD_FRAG,
                                 {404}, "unknown session")),
    ]


def api_rows():
    """The sessions API with ids and names no session has: never a kick of
    the viewer's session, never a 500."""
    unknown = "/v1/sessions/0123456789abcdef0123456789abcdef"
    return [
        ("sessions: unknown id", H("GET", unknown, status={404},
                                   reason="unknown session")),
        ("sessions: kick unknown id", H("DELETE", unknown, status={404},
                                        reason="unknown session")),
        ("sessions: id of 65 chars", H("DELETE", "/v1/sessions/" + "a" * 65,
                                       status={404}, reason="unknown session")),
        ("sessions: id with %2F", H("DELETE", "/v1/sessions/a%2Fb",
                                    status={404})),
        ("sessions: id with %00", H("DELETE", "/v1/sessions/a%00b",
                                    status={404})),
        ("sessions: id %2e%2e", H("DELETE", "/v1/sessions/%2e%2e",
                                  status={404})),
        ("sessions: id with a space", H("DELETE", "/v1/sessions/a%20b",
                                        status={404})),
        ("sessions: extra segment", H("DELETE", unknown + "/x",
                                      status={404})),
        ("sessions: PUT", H("PUT", unknown, [SDP], "x", {405},
                            "not allowed", allow="DELETE")),
        ("sessions: DELETE the list", H("DELETE", "/v1/sessions",
                                        status={405}, allow="GET")),
        ("sessions: POST the list", H("POST", "/v1/sessions", [SDP], "x",
                                      {405}, allow="GET")),
        ("sessions: unknown path", H("GET", "/v1/paths/nope/sessions",
                                     status={404}, reason="unknown path")),
        ("sessions: path ..%2F", H("GET", "/v1/paths/..%2Fcam/sessions",
                                   status={404})),
        ("sessions: DELETE a path's", H("DELETE", "/v1/paths/cam/sessions",
                                        status={405}, allow="GET")),
    ]


def snapshot_rows():
    """GET /cam/snapshot.jpg with bad ?width= values (400 with the reason,
    before any decode), wrong methods and names; one good request last,
    decoded while the viewer watches."""
    snap = "/cam/snapshot.jpg"
    why = "width must be a whole number"
    bad = ["abc", "-160", "+160", "0", "15", "3841", "65536", "4294967456",
           "99999999999999999999", "1e3", "0x10", "", "%20160", "160%20",
           "160abc", "160.5", "%D9%A1%D9%A6%D9%A0",
           "9" * 10000]
    rows = [("snapshot: width=%s" % (w if len(w) < 20 else w[:8] + "..."),
             H("GET", snap + "?width=" + w, status={400}, reason=why))
            for w in bad]
    return rows + [
        # GLib refuses a query with an escaped NUL byte as a whole.
        ("snapshot: width=%00", H("GET", snap + "?width=%00", status={400},
                                  reason="query string")),
        ("snapshot: width=16%0000", H("GET", snap + "?width=16%0000",
                                      status={400}, reason="query string")),
        ("snapshot: bad escape in the query",
         H("GET", snap + "?width=%zz", status={400})),
        ("snapshot: POST", H("POST", snap, [SDP], "x", {405}, "not allowed",
                             allow="GET")),
        ("snapshot: DELETE", H("DELETE", snap, status={405}, allow="GET")),
        ("snapshot: unknown path", H("GET", "/nope/snapshot.jpg",
                                     status={404}, reason="unknown path")),
        ("snapshot: extra segment", H("GET", snap + "/x", status={404})),
        ("snapshot: path %2e%2e", H("GET", "/%2e%2e/snapshot.jpg",
                                    status={404})),
        ("snapshot: good, width=16", H("GET", snap + "?width=16",
                                       status={200})),
    ]


def W(frames, reason, status=400, code=1008, wait_offer=False, error=True,
      path="/cam/ws"):
    """A websocket row: `frames` are (opcode, payload, masked) or JSON
    objects, sent after the handshake (after the offer if `wait_offer`)."""
    return {"kind": "ws", "frames": frames, "reason": reason,
            "status": status, "code": code, "wait_offer": wait_offer,
            "error": error, "path": path}


CAND = "candidate:1 1 UDP 2122252543 10.99.0.2 9 typ host"


def answer_for(offer):
    """A well-formed answer to the server's offer (no ICE agent behind it:
    the session is accepted, then never connects)."""
    out = []
    for l in offer.replace("\r\n", "\n").split("\n"):
        if l.startswith("a=candidate") or l.startswith("a=end-of-cand"):
            continue
        if l.startswith("a=ice-ufrag:"):
            l = "a=ice-ufrag:gwE2"
        elif l.startswith("a=ice-pwd:"):
            l = "a=ice-pwd:gwe2eTestPasswordOf24Chr"
        elif l.startswith("a=fingerprint:"):
            l = "a=fingerprint:sha-256 " + ":".join(["AB"] * 32)
        elif l.startswith("a=setup:"):
            l = "a=setup:active"
        elif l == "a=sendonly":
            l = "a=recvonly"
        elif l == "a=sendrecv":
            l = "a=recvonly"
        out.append(l)
    return {"type": "answer", "sdp": "\r\n".join(out).strip() + "\r\n"}


def ws_rows():
    over = json.dumps({"type": "close", "pad": "x" * WS_LIMIT})
    return [
        ("invalid JSON", W([(0x1, '{"type": "close"', True)],
                           "invalid JSON")),
        ("not an object", W([(0x1, "[1, 2, 3]", True)], "not a JSON object")),
        ("a JSON string", W([(0x1, '"close"', True)], "not a JSON object")),
        ("empty frame", W([(0x1, "", True)], "empty message")),
        ("no type", W([{"sdp": "v=0"}], 'without "type"')),
        ("type not a string", W([{"type": 7}], '"type" must be a string')),
        ("unknown type", W([{"type": "hello"}],
                           'unknown message type "hello"')),
        ("answer before the offer", W([{"type": "answer",
                                        "sdp": "v=0\r\n"}],
                                      "answer before the offer")),
        ("candidate before the offer", W([{"type": "candidate", "mline": 0,
                                           "candidate": CAND}],
                                         "candidate before the offer")),
        ("candidate without mline", W([{"type": "candidate",
                                        "candidate": CAND}],
                                      'without "mline"')),
        ("candidate mline a string", W([{"type": "candidate", "mline": "0",
                                         "candidate": CAND}],
                                       "whole number")),
        ("candidate mline 999", W([{"type": "candidate", "mline": 999,
                                    "candidate": CAND}], "out of range")),
        ("candidate not a string", W([{"type": "candidate", "mline": 0,
                                       "candidate": 5}], "must be a string")),
        ("candidate two lines", W([{"type": "candidate", "mline": 0,
                                    "candidate": CAND + "\r\nx"}],
                                  "single line")),
        ("server-only type", W([{"type": "offer", "sdp": "v=0\r\n"}],
                               "is a server message")),
        ("answer not SDP", W([{"type": "answer", "sdp": "hello"}],
                             "not an SDP description", wait_offer=True)),
        ("answer without media", W([{"type": "answer", "sdp": "v=0\r\n"}],
                                   "no media", wait_offer=True)),
        ("second answer", W([answer_for, answer_for], "second answer",
                            wait_offer=True)),
        ("bad candidate after the offer", W(
            [answer_for, {"type": "candidate", "mline": 0,
                          "candidate": "candidate:garbage"}],
            "not an ICE candidate", wait_offer=True)),
        ("frame over 64 KiB", W([(0x1, over, True)], "too large")),
        ("binary frame", W([(0x2, b"\x00\x01\x02", True)], "binary")),
        # libsoup checks text frames itself: 1007, no error message.
        ("text not UTF-8", W([(0x1, b'{"type":"\xff"}', True)], "",
                             code=(1007, 1008), error=None)),
        # libsoup refuses it from its header (1009); the close frame may be
        # lost to the reset of the connection we are still writing to.
        ("frame over 256 KiB", W([(0x1, "x" * (300 * 1024), True)], "",
                                 code=(1009, None), error=False)),
        ("unmasked frame", W([(0x1, '{"type":"close"}', False)], "",
                             code=1002, error=False)),
        ("ping over 125 bytes", W([(0x9, "p" * 200, True)], "", code=1002,
                                  error=False)),
        # A message in two fragments is put together first.
        ("fragmented message", W([(0x1, '{"type":"hel', True, False),
                                  (0x0, 'lo"}', True, True)],
                                 'unknown message type "hello"')),
        ("continuation without a start", W([(0x0, '{"type":"close"}', True)],
                                           "", code=1002, error=False)),
        ("close with code 999", W([(0x8, struct.pack("!H", 999), True)], "",
                                  code=1002, error=False)),
        ("a good close", W([{"type": "close"}], "", code=1000, error=False)),
    ]


def tcp_rows():
    pad = "a" * (70 * 1024)
    return [
        ("garbage bytes", {"kind": "raw", "send": b"\x16\x03\x01\x00\xa5"
                           b"\x01\x00\x00\xa1 garbage\r\n\r\n",
                           "status": {400}, "half_close": False}),
        # libsoup stops reading a header block over its limit (64 KiB) and
        # closes the connection without an answer.
        ("header over 64 KiB", {"kind": "raw", "send": request_bytes(
            "GET", "/", [("X-Pad", pad)]), "status": {400, 413, 431},
            "half_close": False, "silent_close_ok": True}),
        ("many headers", {"kind": "raw", "send": request_bytes(
            "GET", "/", [("X-H%d" % i, "v") for i in range(5000)]),
            "status": {200, 400, 413, 431}, "half_close": False}),
        ("bad Content-Length", {"kind": "raw", "send": request_bytes(
            "POST", "/cam/whep", [SDP, ("Content-Length", "12abc")], "v=0"),
            "status": {400}, "half_close": False}),
        ("negative Content-Length", {"kind": "raw", "send": request_bytes(
            "POST", "/cam/whep", [SDP, ("Content-Length", "-5")], "v=0"),
            "status": {400}, "reason": "bad Content-Length",
            "half_close": False}),
        # Refused from the headers, before a byte of the body is read (a
        # client sending it would wait for nothing).
        ("huge Content-Length, Expect", {"kind": "raw", "send": request_bytes(
            "POST", "/cam/whep", [SDP, ("Content-Length", "99999999999"),
                                  ("Expect", "100-continue")]),
            "status": {413}, "reason": "too large", "half_close": False}),
        ("huge Content-Length", {"kind": "raw", "send": request_bytes(
            "POST", "/cam/whep", [SDP, ("Content-Length", "99999999999")],
            "v=0"), "status": {413}, "reason": "too large",
            "half_close": False}),
        ("Content-Length longer than the body, then close", {
            "kind": "raw", "send": request_bytes(
                "POST", "/cam/whep", [SDP, ("Content-Length", "5000")],
                gl.STATIC_OFFER), "status": set(), "half_close": True}),
        ("chunked body over 64 KiB", {"kind": "raw", "send": request_bytes(
            "POST", "/cam/whep", [SDP, ("Transfer-Encoding", "chunked")],
            b"".join(b"4000\r\n" + b"x" * 0x4000 + b"\r\n" for _ in range(5))
            + b"0\r\n\r\n"), "status": {413}, "half_close": False}),
        ("bad chunk size", {"kind": "raw", "send": request_bytes(
            "POST", "/cam/whep", [SDP, ("Transfer-Encoding", "chunked")],
            b"zz\r\nv=0\r\n0\r\n\r\n"), "status": {400}, "half_close": False}),
        ("two Content-Lengths", {"kind": "raw", "send": request_bytes(
            "POST", "/cam/whep", [SDP, ("Content-Length", "3"),
                                  ("Content-Length", "700")], "v=0"),
            "status": {400}, "reason": "bad Content-Length",
            "half_close": False}),
        ("unknown Transfer-Encoding", {"kind": "raw", "send": request_bytes(
            "POST", "/cam/whep", [SDP, ("Transfer-Encoding", "gzip")], "v=0"),
            "status": {400, 501}, "half_close": True}),
        ("HTTP/0.9", {"kind": "raw", "send": b"GET /\r\n\r\n",
                      "status": {400}, "half_close": False}),
        ("HTTP/2 preface", {"kind": "raw",
                            "send": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                            "status": {400, 404, 405, 505},
                            "half_close": False}),
    ]


# --------------------------------------------------------------------------
# Running rows


class Checker:
    def __init__(self, gw, viewer):
        self.gw = gw
        self.viewer = viewer
        self.n = 0
        self.failures = []

    class CaseFailed(Exception):
        pass

    def fail(self, name, msg):
        # Every row runs; the failures are reported together per group.
        g.log("  FAILED: %s: %s" % (name, msg))
        self.failures.append("%s: %s" % (name, msg))
        raise self.CaseFailed()

    def http(self, name, row):
        raw = request_bytes(row["method"], row["target"], row["headers"],
                            row["body"])
        resps, _ = exchange(self.gw.port, raw)
        if not resps:
            self.fail(name, "no HTTP response")
        r = resps[0]
        g.log("  %-34s -> %d %s" % (name, r.status, r.text().strip()[:70]))
        if r.status not in row["status"]:
            self.fail(name, "got %r, want %s" % (r, sorted(row["status"])))
        if row["reason"] and row["reason"] not in r.text():
            self.fail(name, "reason %r lacks %r" % (r.text(), row["reason"]))
        # A request that is not valid HTTP (a bad escape, raw bytes in the
        # target) is refused by libsoup before any handler runs: 400 with
        # its reason phrase and an empty body. Ours always carry a body.
        if r.status >= 400 and not r.text().strip() and not (
                r.status == 400 and r.reason_phrase == "Bad Request"):
            self.fail(name, "%d without a reason" % r.status)
        if row["allow"] and row["allow"] not in r.headers.get("allow", ""):
            self.fail(name, "Allow %r lacks %s" % (r.headers.get("allow"),
                                                   row["allow"]))
        if "text/plain" in r.headers.get("content-type", "") and \
                "<html" in r.text():
            self.fail(name, "an HTML body sent as text/plain: %r" % r)
        if "root:" in r.text():
            self.fail(name, "a file's content in the answer: %r" % r)
        return r

    def ws(self, name, row):
        c = WsClient(self.gw.port, row["path"])
        try:
            if c.status != 101:
                self.fail(name, "handshake got %d" % c.status)
            offer = None
            if row["wait_offer"]:
                msgs, code, closed = c.messages(
                    10, until=lambda m: m.get("type") == "offer")
                if not msgs or msgs[-1].get("type") != "offer":
                    self.fail(name, "no offer (%r, close %s)" % (msgs, code))
                offer = msgs[-1]["sdp"]
            for f in row["frames"]:
                if callable(f):
                    c.send_json(f(offer))
                elif isinstance(f, dict):
                    c.send_json(f)
                else:
                    op, payload, masked = f[:3]
                    fin = f[3] if len(f) > 3 else True
                    c.send_frame(op, payload, mask=masked, fin=fin)
            msgs, code, closed = c.messages()
        finally:
            c.close()
        errors = [m for m in msgs if m.get("type") == "error"]
        g.log("  %-34s -> %s close %s" % (
            name, "; ".join("%s %s" % (e.get("status"), e.get("reason"))
                            for e in errors) or "no error message", code))
        if not closed:
            self.fail(name, "the server did not close within %.0f s (%r)"
                      % (IO_TIMEOUT, msgs))
        codes = row["code"] if isinstance(row["code"], tuple) \
            else (row["code"],)
        if code not in codes:
            self.fail(name, "close code %s, want %s" % (code, codes))
        if row["error"] is True:
            if not errors:
                self.fail(name, "no error message before the close: %r"
                          % msgs)
            e = errors[0]
            if e.get("status") != row["status"] or \
                    row["reason"] not in e.get("reason", ""):
                self.fail(name, "error %r, want %d with %r"
                          % (e, row["status"], row["reason"]))
        elif row["error"] is False and errors:
            self.fail(name, "unexpected error message %r" % errors)

    def raw(self, name, row):
        resps, closed = exchange(self.gw.port, row["send"],
                                 half_close=row["half_close"])
        g.log("  %-34s -> %s%s" % (name, ", ".join(
            "%d %s" % (r.status, r.text().strip()[:50]) for r in resps)
            or "no response", " (closed)" if closed else ""))
        if not row["status"]:
            if resps and resps[0].status < 400:
                self.fail(name, "a success for an incomplete request: %r"
                          % resps)
            return
        if not resps and closed and row.get("silent_close_ok"):
            return
        if not resps:
            self.fail(name, "no response (closed: %s)" % closed)
        if resps[0].status not in row["status"]:
            self.fail(name, "got %r, want %s" % (resps[0],
                                                 sorted(row["status"])))
        if row.get("reason") and row["reason"] not in resps[0].text():
            self.fail(name, "reason %r lacks %r" % (resps[0].text(),
                                                    row["reason"]))

    def run(self, rows):
        for name, row in rows:
            self.n += 1
            try:
                getattr(self, row["kind"])(name, row)
            except self.CaseFailed:
                pass
            except (OSError, ValueError, EOFError) as e:
                self.failures.append("%s: %s: %s" % (name, type(e).__name__,
                                                     e))
                g.log("  FAILED: %s: %r" % (name, e))
            g.check(self.gw.alive(), "case %r: the gateway exited (rc=%s)"
                    % (name, self.gw.proc.returncode()))

    def healthy(self, what):
        """The gateway runs, answers the index, and the viewer decodes."""
        g.check(not self.failures, "%d of %d cases failed: %s" % (
            len(self.failures), self.n, " | ".join(self.failures)))
        g.check(self.gw.alive(), "after %s: the gateway is not running"
                % what)
        st, _, body = self.gw.get("/")
        g.check(st == 200 and b"cam" in body,
                "after %s: GET / got %d" % (what, st))
        n = gl.wait_more_frames(self.viewer, 10, 15,
                                "the viewer decoding after %s" % what)
        g.log("after %s: the viewer decoded %d frames so far" % (what, n))
        crit = [l for l in self.gw.log() if BAD_LOG.search(l)]
        g.check(not crit, "after %s: the gateway logged %d bad lines; "
                "first: %s" % (what, len(crit), " | ".join(crit[:3])))


def slow_clients(chk, port):
    """Clients that start a request and go silent; the others must be
    served meanwhile. Returns how many the server closed by itself."""
    socks = []
    starts = [b"GET / HTTP/1.1\r\n",
              b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a",
              request_bytes("POST", "/cam/whep", [SDP, ("Content-Length",
                                                        "4000")], "v=0\r\n")]
    for raw in starts * 2:
        s = connect(port)
        s.sendall(raw)
        socks.append(s)
    try:
        for i in range(3):
            st, _, _ = chk.gw.get("/", timeout=5)
            g.check(st == 200, "GET / with %d silent clients: %d"
                    % (len(socks), st))
            st, _, _ = chk.gw.get("/v1/paths", timeout=5)
            g.check(st == 200, "GET /v1/paths with silent clients: %d" % st)
        closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        g.log("  %-34s -> others served; %d of %d closed by the server so far"
              % ("silent clients", closed, len(socks)))
        return closed
    finally:
        for s in socks:
            s.close()


def pipelined(chk, port):
    raw = (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /v1/paths HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /cam/whep HTTP/1.1\r\nHost: x\r\nContent-Type: "
           b"application/sdp\r\nContent-Length: 7\r\n\r\ngarbage"
           b"GET /nosuch/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    resps, closed = exchange(port, raw)
    got = [r.status for r in resps]
    g.log("  %-34s -> %s" % ("pipelined requests", got))
    g.check(got == [200, 200, 400, 404],
            "pipelined requests: got %s, want [200, 200, 400, 404]" % got)
    g.check(b"cam" in resps[1].body, "pipelined /v1/paths: %r" % resps[1])


def many_pipelined(chk, port, n=300):
    """n requests in one write: n answers, in order, then the close."""
    one = b"GET /v1/paths/cam HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /nosuch/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    resps, closed = exchange(port, one * (n - 1) + last, timeout=15)
    got = [r.status for r in resps]
    g.log("  %-34s -> %d answers, %d of them 200, then %s%s"
          % ("%d pipelined requests" % n, len(got), got.count(200),
             got[-1] if got else None, " (closed)" if closed else ""))
    g.check(got == [200] * (n - 1) + [404], "%d pipelined requests: got %d "
            "answers (%s...)" % (n, len(got), got[:5]))


def test(procs):
    # A camera without audio: an audio-only offer then asks for nothing the
    # path has.
    cam, url = g.start_camera(procs, args=("--audio", "none"))
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\n" % url)
    gw.start()
    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"))
    g.wait_frames(viewer, 15, 40)
    chk = Checker(gw, viewer)
    t0 = time.monotonic()
    # The longest time the viewer's picture stood still during the table.
    stall = gl.StallWatch(viewer, max_s=80)

    g.log("WHEP requests")
    chk.run(whep_rows())
    # A live session to PATCH (a static offer: no ICE agent behind it, but
    # the gateway answers it and keeps it for its connect limit of 30 s).
    st, hdrs, text, _ = gw.post_offer("cam")
    g.check(st == 201 and hdrs.get("location"),
            "WHEP POST of a good offer: %d %r" % (st, text[:200]))
    chk.run(session_rows(hdrs["location"]))
    chk.healthy("the WHEP cases")

    g.log("sessions API")
    chk.run(api_rows())
    chk.healthy("the sessions API cases")

    g.log("snapshots")
    chk.run(snapshot_rows())
    chk.healthy("the snapshot cases")

    g.log("websocket messages")
    st, _, body = gw.get("/nosuch/ws")
    g.check(st == 404, "websocket on an unknown path: %d" % st)
    st, _, body = gw.get("/cam/ws")
    g.check(st == 400 and body.strip(), "GET /cam/ws without upgrade: %d %r"
            % (st, body))
    chk.run(ws_rows())
    chk.healthy("the websocket cases")

    g.log("raw TCP")
    chk.run(tcp_rows())
    slow_clients(chk, gw.port)
    pipelined(chk, gw.port)
    many_pipelined(chk, gw.port)
    chk.healthy("the raw TCP cases")
    longest = stall.stop()
    g.log("%d cases in %.1f s; the viewer's longest freeze: %.1f s"
          % (chk.n + 2, time.monotonic() - t0, longest))
    # Generous on a shared two-core machine; a gateway blocked by one bad
    # client would freeze it for the whole of a 5 s read timeout.
    g.check(longest < 4.0, "the viewer's picture froze for %.1f s during the "
            "table" % longest)

    # No session leaked: only the viewer's is left (bad requests made none,
    # the websocket ones were closed with their sockets, the PATCHed one
    # was deleted).
    m = gw.metrics()
    g.check(m.get("gw_sessions") == 1, "gw_sessions is %s after the table, "
            "want 1 (the viewer's)" % m.get("gw_sessions"))
    gw.stop_and_check()
    if os.environ.get("GW_HOSTILE_LOG"):
        with open(os.environ["GW_HOSTILE_LOG"], "w") as f:
            f.write("\n".join(gw.log()))
    crit = [l for l in gw.log() if BAD_LOG.search(l)]
    g.check(not crit, "the gateway logged %d bad lines; first: %s"
            % (len(crit), " | ".join(crit[:3])))


if __name__ == "__main__":
    g.run_test(test, timeout=80)
