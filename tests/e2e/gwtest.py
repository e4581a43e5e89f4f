"""Shared helpers for the gw end-to-end tests.

Every test runs inside tests/e2e/netns.sh (a private network namespace with
10.99.0.1 and 10.99.0.2 on a veth pair). The helpers here:

- start processes and stop them by PID (SIGTERM/SIGINT, then SIGKILL after a
  timeout), keep their stdout lines and the tail of their stderr;
- wait for a stdout line, bounded in time;
- pick free ports, talk HTTP (WHEP POST/DELETE);
- start the test camera, gst-launch pipelines and the three kinds of viewer
  (webrtcbin, aiortc, headless Chromium), and collect the player page's
  reports with a tiny HTTP server.

Loops are bounded in count and time; every process started through a `Procs`
is stopped when the `with` block ends, whether the test passed or not.
"""

import http.client
import http.server
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

GW_IP = "10.99.0.1"
PEER_IP = "10.99.0.2"
PYTHON = "/usr/bin/python3"
CHROMIUM = "/usr/bin/chromium"
# Added to Chromium's command line (e.g. by a debugging script).
EXTRA_CHROMIUM_FLAGS = []
HERE = os.path.dirname(os.path.abspath(__file__))

_T0 = time.monotonic()


class TestFailure(Exception):
    """A check on what the user would see did not hold."""


def log(msg):
    print("[%7.2f] %s" % (time.monotonic() - _T0, msg), flush=True)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


# --------------------------------------------------------------------------
# Environment


def require_netns():
    """Fail loudly unless we run inside netns.sh's private namespace."""
    if os.environ.get("GW_NETNS") != "1":
        raise TestFailure(
            "not inside tests/e2e/netns.sh: refusing to run (the e2e tests "
            "need their private network namespace)")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((GW_IP, 0))
    except OSError as e:
        raise TestFailure("10.99.0.1 is not configured in this namespace: %s"
                          % e)
    finally:
        s.close()


def build_dir():
    d = os.environ.get("GW_BUILD_DIR")
    if not d:
        raise TestFailure("GW_BUILD_DIR is not set (run through meson test)")
    return d


def camera_binary():
    path = os.environ.get("GW_TEST_CAMERA") or os.path.join(
        build_dir(), "tests", "tools", "gw-test-camera")
    check(os.access(path, os.X_OK), "test camera not built: %s" % path)
    return path


def free_port(addr=GW_IP, kind=socket.SOCK_STREAM):
    """A port free right now on addr (inside our namespace nobody races us)."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((addr, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_tcp_port(addr, port, timeout, proc=None):
    """Wait until something accepts TCP connections on addr:port."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.1) + 1):
        if proc is not None and not proc.alive():
            raise TestFailure("%s exited (rc=%s) before listening on %s:%d"
                              % (proc.name, proc.returncode(), addr, port))
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise TestFailure("nothing listens on %s:%d after %.0f s"
                      % (addr, port, timeout))


# --------------------------------------------------------------------------
# Processes


class Proc:
    """A child process with its stdout lines kept and stderr in a file."""

    def __init__(self, name, argv, env=None, new_session=False,
                 quiet_prefixes=("STATS ",), stop_signal=signal.SIGTERM):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.new_session = new_session
        self.stop_signal = stop_signal
        self._quiet = tuple(quiet_prefixes)
        self._lines = []
        self._cond = threading.Condition()
        self._eof = False
        fd, self.stderr_path = tempfile.mkstemp(
            prefix="gw-e2e-%s-" % re.sub(r"[^A-Za-z0-9_.-]", "_", name),
            suffix=".stderr")
        self._stderr = os.fdopen(fd, "wb")
        log("start %s: %s" % (name, " ".join(shlex.quote(a)
                                              for a in self.argv)))
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr, env=env, start_new_session=new_session)
        self.pid = self.popen.pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line.startswith(self._quiet):
                log("%s| %s" % (self.name, line))
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def alive(self):
        return self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def lines(self):
        with self._cond:
            return list(self._lines)

    def n_lines(self):
        with self._cond:
            return len(self._lines)

    def wait_line(self, pattern, timeout, start=0):
        """Wait for a stdout line matching regex `pattern` among the lines
        from index `start`. Returns the re.Match. Raises TestFailure on
        timeout or if the process ends first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[start:]:
                    m = rx.search(line)
                    if m:
                        return m
                start = len(self._lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("%s: no line matching %r within %.0f s"
                                      % (self.name, pattern, timeout))
                if self._eof:
                    raise TestFailure(
                        "%s ended (rc=%s) before printing a line matching %r"
                        % (self.name, self.popen.poll(), pattern))
                self._cond.wait(min(left, 0.5))

    _ANSI = re.compile(r"\x1b\[[0-9;]*m")
    # GStreamer debug line prefix: time, pid, thread.
    _GST_PREFIX = re.compile(r"^\d+:\d+:\d+\.\d+\s+\d+\s+0x[0-9a-f]+\s+")

    def stderr_lines(self):
        try:
            self._stderr.flush()
        except (OSError, ValueError):
            pass
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
        except OSError:
            return []
        return [self._ANSI.sub("", l)
                for l in data.decode("utf-8", "replace").splitlines()]

    def stderr_tail(self, n=40, only=None):
        """The last n stderr lines (those matching regex `only` if given),
        runs of the same message collapsed into one "[xN]" line so a
        flood of one warning cannot hide the rest."""
        rx = re.compile(only) if only else None
        out = []  # [key, line, count]
        for line in self.stderr_lines():
            if rx and not rx.search(line):
                continue
            key = self._GST_PREFIX.sub("", line)
            if out and out[-1][0] == key:
                out[-1][1] = line
                out[-1][2] += 1
            else:
                out.append([key, line, 1])
        return "\n".join(l if c == 1 else "%s   [x%d]" % (l, c)
                         for _, l, c in out[-n:])

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout=5.0, sig=None):
        """Stop by PID: `sig` (default the process's stop signal), then
        SIGKILL after `timeout`. Returns (returncode, clean) where clean
        means it exited on the first signal."""
        sig = self.stop_signal if sig is None else sig
        clean = True
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                clean = False
                log("%s (pid %d) still running %.0f s after %s: SIGKILL"
                    % (self.name, self.pid, timeout, signal.Signals(sig).name))
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        if self.new_session:
            # Helpers of a process started in its own session (Chromium's
            # zygote, renderers, GPU process): that group is ours only.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._reader.join(5)
        try:
            self._stderr.close()
        except OSError:
            pass
        return self.popen.returncode, clean


class StatsProc(Proc):
    """A viewer process that prints `STATS <json>` lines."""

    def stop(self, timeout=15.0, sig=None):
        # A viewer DELETEs its sessions (3 s timeout each) before exiting.
        return super().stop(timeout, sig)

    def latest_stats(self):
        with self._cond:
            for line in reversed(self._lines):
                if line.startswith("STATS "):
                    return json.loads(line[6:])
        return None

    def wait_stats(self, pred, timeout, what):
        """Wait until pred(stats) is true on the latest STATS line."""
        deadline = time.monotonic() + timeout
        last = None
        for _ in range(int(timeout / 0.2) + 2):
            last = self.latest_stats()
            if last is not None and pred(last):
                return last
            failed = [v for v in (last or {}).get("viewers", [])
                      if v.get("state") == "failed"]
            if failed:
                raise TestFailure("%s: viewer %d failed while waiting for "
                                  "%s: %s" % (self.name, failed[0]["id"],
                                              what, failed[0].get("error")))
            if not self.alive():
                raise TestFailure("%s exited (rc=%s) while waiting for %s; "
                                  "last stats: %s"
                                  % (self.name, self.returncode(), what,
                                     json.dumps(last)))
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        raise TestFailure("%s: %s not reached within %.0f s; last stats: %s"
                          % (self.name, what, timeout, json.dumps(last)))


class Procs:
    """Owns the processes of one test; stops them all (by PID) on exit."""

    def __init__(self):
        self.procs = []
        self.tmpdirs = []

    def __enter__(self):
        return self

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def mkdtemp(self, prefix):
        d = tempfile.mkdtemp(prefix=prefix)
        self.tmpdirs.append(d)
        return d

    def dump_diagnostics(self, n=40):
        for p in self.procs:
            rc = p.returncode()
            print("----- %s (pid %d, %s) stderr tail -----"
                  % (p.name, p.pid,
                     "running" if rc is None else "exit %s" % rc))
            print(p.stderr_tail(n))
            gw_log = p.stderr_tail(n, only=r"\sgw[a-z]+\s")
            if gw_log:
                print("----- %s: gw element log (tail) -----" % p.name)
                print(gw_log)
            out = [l for l in p.lines() if not l.startswith("STATS ")]
            stats = [l for l in p.lines() if l.startswith("STATS ")]
            if out:
                print("----- %s stdout tail -----" % p.name)
                print("\n".join(out[-15:]))
            if stats:
                print("----- %s last stats -----" % p.name)
                print(stats[-1])
        sys.stdout.flush()

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                log("stopping %s failed: %s" % (p.name, e))

    def __exit__(self, exc_type, exc, tb):
        self.stop_all()
        for d in self.tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
        # Their tails were printed on failure; nothing is left in /tmp.
        for p in self.procs:
            try:
                os.unlink(p.stderr_path)
            except OSError:
                pass
        return False


def run_test(fn, timeout=None):
    """Run `fn(procs)` inside the namespace; exit 0 on success, 1 on
    failure with the tails of every process's stderr."""
    try:
        require_netns()
    except TestFailure as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
    if timeout:
        # A last-resort watchdog below meson's own timeout: fail with
        # diagnostics rather than being killed silently.
        def on_alarm(signum, frame):
            raise TestFailure("test took longer than %d s" % timeout)
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(int(timeout))
    rc = 1
    procs = Procs()
    try:
        with procs:
            try:
                fn(procs)
                rc = 0
            except Exception:
                traceback.print_exc()
                print("FAIL: %s" % sys.exc_info()[1], flush=True)
                procs.dump_diagnostics()
    finally:
        signal.alarm(0)
    if rc == 0:
        log("PASS")
    sys.stdout.flush()
    sys.exit(rc)


# --------------------------------------------------------------------------
# Programs under test and helpers


def start_camera(procs, address=GW_IP, port=0, name="camera", args=(),
                 timeout=15):
    """Start gw-test-camera; returns (proc, rtsp_url).

    GW_E2E_CAMERA_ARGS (split like a shell) adds camera options to every
    test, for bisecting a failure, e.g. GW_E2E_CAMERA_ARGS="--audio none"."""
    argv = [camera_binary(), "--address", address, "--port", str(port)]
    argv += shlex.split(os.environ.get("GW_E2E_CAMERA_ARGS", ""))
    argv += list(args)
    p = procs.add(Proc(name, argv))
    m = p.wait_line(r"^READY (rtsp://\S+)$", timeout)
    return p, m.group(1)


def camera_sessions(camera):
    """Number of SESSION-NEW lines the camera printed so far."""
    return sum(1 for l in camera.lines() if l.startswith("SESSION-NEW "))


def gst_launch(procs, name, pipeline, port, timeout=20):
    """Start `gst-launch-1.0 PIPELINE` (a string, split like a shell) and
    wait until gwsink accepts connections on 10.99.0.1:port."""
    argv = ["gst-launch-1.0", "--no-position"] + shlex.split(pipeline)
    # SIGINT is what a user sends (Ctrl-C): gst-launch then shuts down its
    # pipeline cleanly.
    p = procs.add(Proc(name, argv, stop_signal=signal.SIGINT,
                       quiet_prefixes=("Redistribute latency",)))
    wait_tcp_port(GW_IP, port, timeout, proc=p)
    return p


def gwsink_props(port):
    return "port=%d address=%s ice-addresses=%s" % (port, GW_IP, GW_IP)


def whep_url(port, addr=GW_IP):
    return "http://%s:%d/whep" % (addr, port)


def tls_context():
    """For https:// URLs: trusts the CA file named by GW_E2E_CA_FILE (a test
    that serves HTTPS sets it; viewers started afterwards inherit it)."""
    import ssl
    return ssl.create_default_context(
        cafile=os.environ.get("GW_E2E_CA_FILE") or None)


def http_request(method, url, body=None, headers=None, timeout=10,
                 source=None):
    """Returns (status, headers (lower-cased names), body bytes). `source`:
    the local address to connect from (default: the kernel's choice)."""
    u = urllib.parse.urlsplit(url)
    src = (source, 0) if source else None
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443,
                                           timeout=timeout,
                                           source_address=src,
                                           context=tls_context())
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80,
                                          timeout=timeout,
                                          source_address=src)
    try:
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def viewer_env():
    # Same environment (and GStreamer registry) as the gateway: dropping
    # GST_PLUGIN_PATH here would make every process rewrite the registry.
    # The viewers use no gw element.
    return dict(os.environ)


def start_gst_viewers(procs, whep_url, count=1, audio=False, name="viewer",
                      duration=240, extra=()):
    argv = [PYTHON, os.path.join(HERE, "viewer_gst.py"), "--url", whep_url,
            "--count", str(count), "--duration", str(duration)]
    if audio:
        argv.append("--audio")
    argv += list(extra)
    return procs.add(StatsProc(name, argv, env=viewer_env()))


def start_aiortc_viewer(procs, whep_url, audio=False, name="aiortc",
                        duration=240):
    argv = [PYTHON, os.path.join(HERE, "viewer_aiortc.py"), "--url",
            whep_url, "--duration", str(duration)]
    if audio:
        argv.append("--audio")
    return procs.add(StatsProc(name, argv, env=viewer_env()))


def all_viewers(pred):
    """Predicate over STATS: true when every viewer satisfies pred."""
    def f(stats):
        vs = stats.get("viewers") or []
        return bool(vs) and all(pred(v) for v in vs)
    return f


def wait_frames(viewer, n, timeout, width=320, height=240, fps=15, after=0):
    """Wait until every viewer in the process decodes a fluid picture: a
    first frame (beyond `after` frames) within `timeout` s (it may have to
    wait for a keyframe), then >= n more frames of width x height within a
    window of 4x their duration at `fps` (at least 10 s) -- a slideshow
    fails. Returns the stats."""
    first = viewer.wait_stats(all_viewers(lambda v: v["frames"] > after),
                              timeout, "a first decoded frame" +
                              (" beyond %d" % after if after else ""))
    base = {v["id"]: v["frames"] for v in first["viewers"]}
    window = max(10.0, 4.0 * n / fps)
    try:
        return viewer.wait_stats(
            all_viewers(lambda v: v["frames"] >= base[v["id"]] + n
                        and v["width"] == width and v["height"] == height),
            window, "%d more decoded frames of %dx%d" % (n, width, height))
    except TestFailure as e:
        last = viewer.latest_stats() or {"viewers": []}
        got = ", ".join("viewer %d: %d frames %dx%d" % (
            v["id"], v["frames"] - base.get(v["id"], 0), v["width"],
            v["height"]) for v in last["viewers"])
        raise TestFailure("in %.0f s after the first frame (a %d fps stream)"
                          " the viewers decoded only: %s; %s"
                          % (window, fps, got, e))


# --------------------------------------------------------------------------
# Headless Chromium and its report collector


class ReportServer:
    """Collects the JSON reports the player page POSTs (text/plain, no-cors)."""

    def __init__(self, addr=GW_IP):
        reports = self.reports = []
        cond = self.cond = threading.Condition()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(n, 1 << 20))
                try:
                    doc = json.loads(body.decode("utf-8", "replace"))
                except ValueError:
                    doc = {"_unparsed": body.decode("utf-8", "replace")}
                with cond:
                    reports.append((time.monotonic(), self.path, doc))
                    cond.notify_all()
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            def do_OPTIONS(self):
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Headers", "*")
                self.send_header("Access-Control-Allow-Methods", "POST")
                self.end_headers()

            def log_message(self, fmt, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((addr, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://%s:%d/r" % (addr, self.port)
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        daemon=True)
        self._thread.start()

    def latest(self):
        with self.cond:
            return self.reports[-1][2] if self.reports else None

    def count(self):
        with self.cond:
            return len(self.reports)

    def wait_for(self, pred, timeout, what, alive=None):
        deadline = time.monotonic() + timeout
        with self.cond:
            for _ in range(int(timeout / 0.5) + 2):
                if self.reports and pred(self.reports[-1][2]):
                    return self.reports[-1][2]
                if alive is not None and not alive():
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
            last = self.reports[-1][2] if self.reports else None
        raise TestFailure("player page: %s not reached within %.0f s "
                          "(%d reports; last: %s)"
                          % (what, timeout, self.count(), json.dumps(last)))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


def start_chromium(procs, url, name="chromium"):
    """Headless Chromium on `url`, fresh profile, in its own session so that
    its helper processes are stopped with it."""
    check(os.access(CHROMIUM, os.X_OK), "%s not found" % CHROMIUM)
    profile = procs.mkdtemp("gw-e2e-chromium-")
    argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--autoplay-policy=no-user-gesture-required",
            "--disable-dev-shm-usage", "--user-data-dir=" + profile] + EXTRA_CHROMIUM_FLAGS + [url]
    return procs.add(Proc(name, argv, new_session=True))


def chromium_plays(procs, page, width, height, timeout=60):
    """Opens @page (a player page URL) in headless Chromium with a ?report=
    hook and waits until the page reports decoded H.264 frames of
    @width x @height. Returns the report; fails the test otherwise."""
    reports = ReportServer()
    try:
        sep = "&" if "?" in page else "?"
        browser = start_chromium(procs, "%s%sreport=%s" % (page, sep, reports.url))
        r = reports.wait_for(
            lambda r: (r.get("framesDecoded") or 0) > 0
            and r.get("videoWidth") == width,
            timeout, "framesDecoded > 0 and videoWidth %d" % width,
            alive=browser.alive)
        log("player page: %s" % r)
        check(r.get("videoHeight") == height, "videoHeight %r"
              % r.get("videoHeight"))
        check("h264" in str(r.get("codec")).lower(), "codec %r"
              % r.get("codec"))
        return r
    finally:
        reports.close()
