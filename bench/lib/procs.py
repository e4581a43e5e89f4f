"""The processes of a benchmark run: camera, gateway and load client."""

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request

GW_ADDR = "10.99.0.1"
CLIENT_ADDR = "10.99.0.2"
RTSP_PORT = 8554
RTP_PORTS = (50000, 50019)
HTTP_PORT = 8889


class Proc:
    """A child process whose stdout lines are read on a thread."""

    def __init__(self, name, argv, log_dir, on_line=None):
        self.name = name
        self.lines = []
        self._on_line = on_line
        self._cond = threading.Condition()
        self.err_path = os.path.join(log_dir, name + ".log")
        self._err = open(self.err_path, "w")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._err,
                                  text=True, bufsize=1)
        self.pid = self.p.pid
        self.out_path = os.path.join(log_dir, name + ".out")
        self._out = open(self.out_path, "w")
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.p.stdout:
            self._out.write(line)
            self._out.flush()
            line = line.rstrip("\n")
            with self._cond:
                self.lines.append(line)
                if self._on_line:
                    self._on_line(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, pred, timeout):
        """Waits until pred() is true (checked under the lock at each line)."""
        end = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = end - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self._t.is_alive()):
                    return pred()
                self._cond.wait(min(left, 0.5))
            return True

    def stop(self, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self._t.join(5)
        self._err.close()
        self._out.close()
        return self.p.returncode

    def tail(self, n=20):
        try:
            with open(self.err_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def start_camera(binary, mounts, log_dir):
    argv = [binary, "--address", GW_ADDR, "--port", str(RTSP_PORT),
            "--rtp-ports", "%d-%d" % RTP_PORTS]
    for path, clip in mounts.items():
        argv += ["--mount", "/%s=%s" % (path, clip)]
    cam = Proc("camera", argv, log_dir)
    if not cam.wait_for(lambda: any(l.startswith("READY") for l in cam.lines), 30):
        cam.stop()
        raise RuntimeError("camera did not start:\n" + cam.tail())
    return cam


def write_gateway_config(tmp, paths):
    """paths: name -> dict of [path] keys. Returns the config file."""
    pdir = os.path.join(tmp, "pipelines")
    os.makedirs(pdir, exist_ok=True)
    for f in os.listdir(pdir):
        os.unlink(os.path.join(pdir, f))
    for name, keys in paths.items():
        with open(os.path.join(pdir, name + ".pipeline"), "w") as f:
            f.write("[path]\n" + "".join("%s=%s\n" % kv for kv in keys.items()))
    conf = os.path.join(tmp, "gateway.conf")
    with open(conf, "w") as f:
        f.write("[server]\nlisten=%s:%d\nice-addresses=%s\npipelines=%s\n"
                "log-level=info\n" % (GW_ADDR, HTTP_PORT, GW_ADDR, pdir))
    return conf


def http_json(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def start_gateway(binary, conf, log_dir, live_paths, name="gateway"):
    gw = Proc(name, [binary, "--config", conf], log_dir)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if gw.p.poll() is not None:
            break
        try:
            st = {p["name"]: p for p in http_json(
                "http://%s:%d/v1/paths" % (GW_ADDR, HTTP_PORT))}
            if all(st.get(n, {}).get("source_state") == "streaming" for n in live_paths):
                return gw
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    gw.stop()
    raise RuntimeError("gateway did not get ready:\n" + gw.tail())


class Client:
    """gw-bench-client: N WebRTC viewers in one process (JSON lines)."""

    def __init__(self, binary, path, n, ramp_ms, log_dir, name="client",
                 extra=()):
        self.viewers = {}
        self.ready = None
        self.stats = []
        self.final = None
        self.bad_lines = 0
        url = "http://%s:%d/%s/whep" % (GW_ADDR, HTTP_PORT, path)
        argv = [binary, "-url", url, "-n", str(n), "-ramp-ms", str(ramp_ms),
                "-bind", CLIENT_ADDR, "-stats-interval-ms", "500"] + list(extra)
        self.t_start = time.monotonic()
        self.proc = Proc(name, argv, log_dir, self._line)
        self.pid = self.proc.pid

    def _line(self, line):
        try:
            ev = json.loads(line)
        except ValueError:
            self.bad_lines += 1
            return
        kind = ev.get("event")
        if kind == "viewer":
            self.viewers[ev.get("id")] = ev
        elif kind == "ready":
            self.ready = ev
        elif kind == "stats":
            self.stats.append(ev)
        elif kind == "final":
            self.final = ev

    def wait_ready(self, timeout):
        self.proc.wait_for(lambda: self.ready is not None, timeout)
        return self.ready

    def stats_count(self):
        with self.proc._cond:
            return len(self.stats)

    def next_stats(self, timeout=5):
        """Waits for a stats line newer than the ones seen so far."""
        n = self.stats_count()
        self.proc.wait_for(lambda: len(self.stats) > n, timeout)
        with self.proc._cond:
            return self.stats[-1] if len(self.stats) > n else None

    def stop(self):
        rc = self.proc.stop(timeout=30)
        return rc

    def tail(self):
        return self.proc.tail()
