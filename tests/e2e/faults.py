"""Helpers for the camera fault tests (not a test).

The camera (gw-test-camera --fault MODE) plays a fault on SIGUSR1 for a
bounded time and reports it on stdout (FAULT-BEGIN MODE, FAULT-END MODE N
with N the RTP packets it altered); the gateway serves it as an on-demand
path. What a user sees is checked through webrtcbin viewers (frames decoded,
their size, one POST per viewer) and the gateway's API and log.

StuckCamera: a camera that answers RTSP up to PLAY, then hangs (no media, no
answer to anything, TEARDOWN included).
"""

import signal
import socket
import threading
import time

import gwtest as g
import test_gateway_lib as gl


def start(procs, camera_args, close_after=2):
    """A camera with `camera_args`, a gateway serving it as path "cam"."""
    cam, url = g.start_camera(procs, args=["--audio", "none"] +
                              list(camera_args))
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\non-demand=true\n"
                  "close-after=%d\n" % (url, close_after))
    gw.start()
    return cam, gw


def play_fault(cam, mode, max_s, min_hits):
    """Starts the camera's fault (SIGUSR1) and waits for its end; checks
    that it really altered at least `min_hits` packets. Returns the
    monotonic time the fault ended."""
    mark = cam.n_lines()
    cam.signal(signal.SIGUSR1)
    cam.wait_line(r"^FAULT-BEGIN %s$" % mode, 5, start=mark)
    t0 = time.monotonic()
    m = cam.wait_line(r"^FAULT-END %s (\d+)$" % mode, max_s, start=mark)
    hits = int(m.group(1))
    g.log("camera fault %s: %d RTP packets altered in %.1f s"
          % (mode, hits, time.monotonic() - t0))
    g.check(hits >= min_hits, "the camera altered only %d packets (%s): the "
            "fault did not happen" % (hits, mode))
    return time.monotonic()


def frames(viewer, i=0):
    s = viewer.latest_stats()
    return s["viewers"][i]["frames"] if s else 0


def check_same_connection(stats):
    for v in stats["viewers"]:
        g.check(v["posts"] == 1 and v["pc"] == "connected",
                "viewer %d: %d POSTs, connection %s (the same connection "
                "must carry on)" % (v["id"], v["posts"], v["pc"]))


class StuckCamera:
    """An RTSP camera that hangs mid-session: it answers OPTIONS, DESCRIBE
    (one H.264 video stream), SETUP (RTP over TCP) and PLAY, then sends no
    media and never answers again on that connection (no reply to TEARDOWN
    nor to keep-alives), as a camera whose RTSP server froze. Each new
    connection gets the same. Runs as threads of the test on 10.99.0.1;
    close() stops it (use it as a `with` block). Loops are bounded: a
    thread ends when its socket closes, on close() or after MAX_S
    seconds."""

    MAX_S = 600
    SDP = ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=stuck\r\nc=IN IP4 0.0.0.0\r\n"
           "t=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
           "a=fmtp:96 packetization-mode=1;profile-level-id=42e01e\r\n"
           "a=control:stream=0\r\n")

    def __init__(self, name="stuck"):
        self.name = name
        self._lock = threading.Lock()
        self.stuck_since = []  # monotonic times a connection went silent
        self.connections = 0
        self.unanswered = []  # methods received after going silent
        self._closed = threading.Event()
        self._socks = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((g.GW_IP, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.url = "rtsp://%s:%d/stream" % (g.GW_IP,
                                            self.sock.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        g.log("%s: a camera that hangs after PLAY at %s" % (name, self.url))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        self._closed.set()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._thread.join(5)

    def last_stuck(self):
        """Monotonic time the newest connection went silent (or None)."""
        with self._lock:
            return self.stuck_since[-1] if self.stuck_since else None

    def _accept(self):
        t0 = time.monotonic()
        while not self._closed.is_set() and time.monotonic() - t0 < self.MAX_S:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self._lock:
                self._socks.append(conn)
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(0.5)
        buf = b""
        silent = False
        session = "%08d" % (int(time.monotonic() * 1000) % 10 ** 8)
        t0 = time.monotonic()
        while not self._closed.is_set() and time.monotonic() - t0 < self.MAX_S:
            try:
                data = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            buf += data
            while b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                hdrs = {}
                for l in lines[1:]:
                    k, _, v = l.partition(":")
                    hdrs[k.strip().lower()] = v.strip()
                n = int(hdrs.get("content-length", "0") or 0)
                if len(rest) < n:
                    break
                buf = rest[n:]
                method = lines[0].split(" ")[0]
                if silent:
                    with self._lock:
                        self.unanswered.append(method)
                    continue
                reply = self._reply(method, lines[0], hdrs, session)
                try:
                    conn.sendall(reply)
                except OSError:
                    return
                if method == "PLAY":
                    silent = True
                    with self._lock:
                        self.stuck_since.append(time.monotonic())
        try:
            conn.close()
        except OSError:
            pass

    def _reply(self, method, request_line, hdrs, session):
        extra = []
        body = b""
        if method == "OPTIONS":
            extra.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, "
                         "GET_PARAMETER")
        elif method == "DESCRIBE":
            body = (self.SDP % g.GW_IP).encode()
            extra += ["Content-Type: application/sdp",
                      "Content-Base: %s/" % self.url]
        elif method == "SETUP":
            # RTP over the RTSP connection only: a UDP session would end on
            # the client's own UDP timeout before the gateway gives up.
            trs = [t for t in hdrs.get("transport", "").split(",")
                   if "RTP/AVP/TCP" in t]
            if not trs:
                return ("RTSP/1.0 461 Unsupported Transport\r\nCSeq: %s\r\n"
                        "\r\n" % hdrs.get("cseq", "0")).encode()
            extra += ["Transport: " + trs[0],
                      "Session: %s;timeout=60" % session]
        elif method in ("PLAY", "GET_PARAMETER"):
            extra.append("Session: " + session)
        head = ["RTSP/1.0 200 OK", "CSeq: " + hdrs.get("cseq", "0")] + extra
        if body:
            head.append("Content-Length: %d" % len(body))
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body
