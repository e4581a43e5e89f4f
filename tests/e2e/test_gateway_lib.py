"""Helpers shared by the test_gateway_*.py end-to-end tests (not a test).

They drive the real `webrtc-gateway` binary of the build directory: a
temporary directory holds its [server] configuration (listening on
10.99.0.1, any free port, ICE on 10.99.0.1 only, log-level=debug) and a
pipelines/ directory of NAME.pipeline files the tests write, change and
remove while it runs. The gateway's log (stderr) and its JSON API
(GET /v1/paths, /metrics) are what the tests read back, next to what the
viewers decode and what the camera reports.

Every loop here is bounded in count and time; the gateway is a `Proc` of the
test's `Procs`, so it is stopped by PID when the test ends, passed or not.
"""

import json
import os
import re
import signal
import threading
import time

import gwtest as g

# A recvonly H.264 offer as a browser would send it. Only used for POSTs that
# the gateway must refuse before any negotiation (max-readers, start-timeout):
# those never reach a webrtcbin, so no real ICE agent stands behind it.
STATIC_OFFER = "\r\n".join([
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=msid-semantic: WMS",
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:gwE2",
    "a=ice-pwd:gwe2eTestPasswordOf24Chr",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
    "a=setup:actpass",
    "a=mid:0",
    "a=recvonly",
    "a=rtcp-mux",
    "a=rtpmap:96 H264/90000",
    "a=rtcp-fb:96 nack",
    "a=rtcp-fb:96 nack pli",
    "a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;"
    "profile-level-id=42e01f",
    "",
])


def testsrc_pipeline(width=320, height=240, fps=15):
    """A pipeline= source: videotestsrc encoded to H.264."""
    return ("videotestsrc is-live=true ! video/x-raw,format=I420,width=%d,"
            "height=%d,framerate=%d/1 ! x264enc tune=zerolatency "
            "key-int-max=15 ! h264parse" % (width, height, fps))


def gateway_binary():
    path = os.path.join(g.build_dir(), "server", "webrtc-gateway")
    g.check(os.access(path, os.X_OK), "gateway not built: %s" % path)
    return path


def camera_url_on(port, path="/stream"):
    """The URL the test camera will have on `port` (it may not run yet)."""
    return "rtsp://%s:%d%s" % (g.GW_IP, port, path)


class Gateway:
    """One webrtc-gateway process with its own config and pipelines dir."""

    def __init__(self, procs, name="gateway", server_extra=""):
        """`server_extra`: more [server] lines (e.g. limits, tls-cert)."""
        self.procs = procs
        self.name = name
        self.scheme = "https" if "tls-cert" in server_extra else "http"
        self.dir = procs.mkdtemp("gw-e2e-gateway-")
        self.pipelines = os.path.join(self.dir, "pipelines")
        os.mkdir(self.pipelines)
        self.conf = os.path.join(self.dir, "gateway.conf")
        with open(self.conf, "w") as f:
            f.write("[server]\n"
                    "listen=%s:0\n"
                    "pipelines=pipelines\n"
                    "ice-addresses=%s\n"
                    "log-level=debug\n" % (g.GW_IP, g.GW_IP)
                    + server_extra)
        self.proc = None
        self.port = None

    # -- path files -------------------------------------------------------

    def path_file(self, name):
        return os.path.join(self.pipelines, name + ".pipeline")

    def write_path(self, name, text):
        """Writes NAME.pipeline atomically (a temporary name that is not a
        *.pipeline file, then a rename), as a careful editor does."""
        tmp = os.path.join(self.pipelines, ".%s.tmp" % name)
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path_file(name))

    def remove_path(self, name):
        os.unlink(self.path_file(name))

    # -- process ----------------------------------------------------------

    def start(self, timeout=20):
        self.proc = self.procs.add(g.Proc(
            self.name, [gateway_binary(), "--config", self.conf],
            env=g.viewer_env()))
        m = self.proc.wait_line(r"listening on %s:(\d+)" % re.escape(g.GW_IP),
                                timeout)
        self.port = int(m.group(1))
        g.wait_tcp_port(g.GW_IP, self.port, timeout, proc=self.proc)
        return self

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def base_url(self):
        return "%s://%s:%d" % (self.scheme, g.GW_IP, self.port)

    def whep_url(self, name):
        return "%s/%s/whep" % (self.base_url(), name)

    def log(self):
        """The gateway's log lines (stderr) so far."""
        return self.proc.stderr_lines()

    def n_log(self):
        return len(self.log())

    def wait_log(self, pattern, timeout, start=0):
        """Waits for a log line matching regex `pattern` among the lines
        from index `start`; returns (index, line)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.1) + 2):
            lines = self.log()
            for i in range(start, len(lines)):
                if rx.search(lines[i]):
                    return i, lines[i]
            if not self.alive():
                raise g.TestFailure("the gateway exited (rc=%s) before logging"
                                    " %r" % (self.proc.returncode(), pattern))
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        raise g.TestFailure("the gateway did not log %r within %.0f s"
                            % (pattern, timeout))

    _CRITICAL = re.compile(r"^\d\d:\d\d:\d\d (CRITICAL|ERROR)\b|-CRITICAL \*\*")

    def criticals(self):
        """The CRITICAL/ERROR entries of the gateway's own log (GLib and
        GStreamer criticals go through it), each with its next line (the
        message of a multi-line entry)."""
        lines = self.log()
        out = []
        for i, l in enumerate(lines):
            if self._CRITICAL.search(l):
                nxt = lines[i + 1] if i + 1 < len(lines) else ""
                out.append((l + " " + nxt).strip())
        return out

    def check_no_criticals(self, when=""):
        crit = self.criticals()
        g.check(not crit, "the gateway logged %d CRITICAL/ERROR entries%s; "
                "first: %s" % (len(crit), when, " | ".join(crit[:3])))

    def stop_and_check(self, timeout=10):
        """Stops the gateway with SIGTERM (as a service manager does) and
        checks it exits 0 by itself, logging no CRITICAL, once its sources
        and viewers are torn down."""
        rc, clean = self.proc.stop(timeout=timeout)
        g.check(clean, "the gateway did not exit within %d s of SIGTERM"
                % timeout)
        g.check(rc == 0, "the gateway exited %s on SIGTERM" % rc)
        self.check_no_criticals(" (including its shutdown)")
        # It waits (bounded) for its sources' and viewers' teardowns.
        cut = [l for l in self.log() if "still being torn down" in l]
        g.check(not cut, "the gateway exited before its teardowns: %s"
                % " | ".join(cut[:2]))

    def reload_signal(self):
        self.proc.signal(signal.SIGHUP)

    # -- HTTP ---------------------------------------------------------------

    def get(self, route, timeout=5, source=None):
        return g.http_request("GET", self.base_url() + route, timeout=timeout,
                              source=source)

    def paths(self):
        """GET /v1/paths as {name: object}."""
        st, hdrs, body = self.get("/v1/paths")
        g.check(st == 200, "GET /v1/paths: %d %s" % (st, body[:200]))
        g.check(hdrs.get("content-type", "").startswith("application/json"),
                "GET /v1/paths: Content-Type %r"
                % hdrs.get("content-type"))
        return {p["name"]: p for p in json.loads(body.decode())}

    def wait_paths(self, pred, timeout, what):
        """Waits until pred(paths()) is true; returns the paths."""
        deadline = time.monotonic() + timeout
        last = None
        for _ in range(int(timeout / 0.2) + 2):
            last = self.paths()
            if pred(last):
                return last
            if not self.alive():
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        raise g.TestFailure("GET /v1/paths: %s not reached within %.0f s; "
                            "last: %s" % (what, timeout, json.dumps(last)))

    def metrics(self):
        """GET /metrics as {"name{labels}": value}."""
        st, _, body = self.get("/metrics")
        g.check(st == 200, "GET /metrics: %d" % st)
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def post_offer(self, name, sdp=STATIC_OFFER, timeout=40):
        """A raw WHEP POST; returns (status, headers, body text, seconds)."""
        t0 = time.monotonic()
        st, hdrs, body = g.http_request(
            "POST", self.whep_url(name), body=sdp,
            headers={"Content-Type": "application/sdp"}, timeout=timeout)
        return st, hdrs, body.decode("utf-8", "replace"), \
            time.monotonic() - t0

    def delete(self, location):
        """DELETE a session URL (absolute); returns the status."""
        st, _, _ = g.http_request("DELETE", location, timeout=5)
        return st


def viewer_of(stats, i=0):
    return stats["viewers"][i]


def frames(viewer_proc, i=0):
    s = viewer_proc.latest_stats()
    return s["viewers"][i]["frames"] if s else 0


def wait_more_frames(viewer_proc, n, timeout, what):
    """Waits until viewer 0 of `viewer_proc` decoded n more frames than now;
    returns the new count."""
    base = frames(viewer_proc)
    viewer_proc.wait_stats(lambda s: s["viewers"][0]["frames"] >= base + n,
                           timeout, "%s (%d frames beyond %d)"
                           % (what, n, base))
    return frames(viewer_proc)


def assert_frozen(viewer_proc, seconds, what):
    """Checks that viewer 0 decodes no new frame during `seconds` (after a
    short settle for frames already in flight)."""
    time.sleep(1.0)
    a = frames(viewer_proc)
    time.sleep(seconds)
    b = frames(viewer_proc)
    g.check(a == b, "%s: the viewer still decodes frames (%d -> %d in "
            "%.1f s)" % (what, a, b, seconds))
    return b


def wait_camera_line(cam, pattern, timeout, start):
    """Waits for a camera stdout line from index `start`; returns the
    monotonic time it was seen."""
    cam.wait_line(pattern, timeout, start=start)
    return time.monotonic()


class StallWatch:
    """Samples viewer 0's frame count every 0.2 s in a thread and records
    the longest time it did not rise (a frozen picture). Bounded: it stops
    by itself after `max_s` seconds."""

    def __init__(self, viewer_proc, max_s=300):
        self.viewer = viewer_proc
        self.max_s = max_s
        self.longest = 0.0
        self.longest_at = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        t_start = time.monotonic()
        last_n = frames(self.viewer)
        last_t = t_start
        for _ in range(int(self.max_s / 0.2) + 1):
            if self._stop.wait(0.2):
                break
            now = time.monotonic()
            n = frames(self.viewer)
            if n != last_n:
                last_n, last_t = n, now
            elif now - last_t > self.longest:
                self.longest = now - last_t
                self.longest_at = now - g._T0  # as in the log's times
            if now - t_start > self.max_s:
                break

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self.longest
