"""Benchmark orchestrator; runs inside the private network namespace
(tests/e2e/netns.sh) started by bench/run.sh. See bench/README.md."""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clips  # noqa: E402
import latency  # noqa: E402
import procs  # noqa: E402
import procstat  # noqa: E402
import report  # noqa: E402


def env_num(name, default, cast=float):
    v = os.environ.get(name)
    if v in (None, ""):
        return default
    try:
        return cast(v)
    except ValueError:
        sys.exit("run_bench: %s must be a number, got %r" % (name, v))


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def pct(values, p):
    return latency.percentile([v for v in values if v is not None], p)


def viewer_times(client, key):
    return [v.get(key) for v in client.viewers.values()
            if not v.get("error") and v.get(key) is not None]


class Bench:
    def __init__(self, a):
        self.a = a
        self.quick = a.quick
        self.out = a.out
        self.logs = os.path.join(a.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="gw-bench-")
        self.window = env_num("WINDOW", 3 if self.quick else 20)
        self.base = env_num("BASE", 1 if self.quick else 5)
        self.settle = env_num("SETTLE", 1 if self.quick else 2)
        self.lat_window = env_num("LAT_WINDOW", 2 if self.quick else 5)
        self.lat_viewers = env_num("LAT_VIEWERS", 4, int)
        self.ramp = env_num("RAMP_MS", 50, int)
        self.gop = env_num("GOP", 1, int)
        if self.gop not in (1, 4):
            sys.exit("run_bench: GOP must be 1 or 4")
        self.ttff_n = env_num("TTFF_VIEWERS", 2 if self.quick else 20, int)
        self.join_n = env_num("JOIN_N", 4 if self.quick else 50, int)
        self.cold_runs = env_num("COLD_RUNS", 1 if self.quick else 5, int)
        ramps = os.environ.get("JOIN_RAMPS") or ("0" if self.quick else "20 10 0")
        try:
            self.join_ramps = [int(x) for x in ramps.split()]
        except ValueError:
            sys.exit("run_bench: JOIN_RAMPS must be whole numbers of ms, got %r" % ramps)
        self.quiet_wait = env_num("QUIET_WAIT", 0 if self.quick else 30)
        self.quiet_max = env_num("QUIET_MAX", 25)
        self.procs = []

    # -- helpers --------------------------------------------------------
    def client(self, path, n, ramp, name):
        c = procs.Client(self.a.client, path, n, ramp, self.logs, name=name)
        self.procs.append(c.proc)
        return c

    def wait_ready(self, c, n, ramp):
        # The client gives up on a viewer 30 s after the last one started.
        end = time.monotonic() + 45 + n * ramp / 1000.0
        ready = None
        while ready is None and time.monotonic() < end:
            ready = c.wait_ready(1.0)
            if ready is None and self.gw.p.poll() is not None:
                raise RuntimeError("the gateway exited (status %s) while %s joined:\n%s"
                                   % (self.gw.p.returncode, c.proc.name, self.gw.tail()))
            if ready is None and c.proc.p.poll() is not None:
                break
        if ready is None:
            raise RuntimeError("client %s never reported ready:\n%s"
                               % (c.proc.name, c.tail()))
        return ready

    def stop_client(self, c, path):
        rc = c.stop()
        if rc != 0:
            log("warning: client exited with %s" % rc)
        # Sessions must be gone before the next measurement (bounded).
        url = "http://%s:%d/v1/paths/%s" % (procs.GW_ADDR, procs.HTTP_PORT, path)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                if procs.http_json(url).get("readers", 1) == 0:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        log("warning: readers of %s did not drop to 0 within 20 s" % path)

    # -- phases ---------------------------------------------------------
    def wait_quiet(self, pids):
        """Waits (at most QUIET_WAIT s) until processes other than ours use
        less than QUIET_MAX % of a core: the machine may be shared."""
        t_end = time.monotonic() + self.quiet_wait
        other = None
        while True:
            w = procstat.Window(pids).run(1.0, every=1.0)
            ours = sum((w[k] or {}).get("cpu_pct") or 0 for k in pids)
            other = w["machine_busy_pct"] * (os.cpu_count() or 1) - ours
            if other < self.quiet_max or time.monotonic() >= t_end:
                break
        if other >= self.quiet_max and self.quiet_wait > 0:
            log("warning: other processes still use %.0f %% of a core" % other)
        return other

    def baseline(self):
        self.wait_quiet({"gateway": self.gw.pid, "camera": self.cam.pid})
        log("baseline: N=0 for %g s" % self.base)
        w = procstat.Window({"gateway": self.gw.pid, "camera": self.cam.pid})
        return w.run(self.base)

    def capture(self, c, n, tag):
        """tcpdump of camera RTP and of the SRTP to a few viewers."""
        ids = sorted(i for i, v in c.viewers.items() if not v.get("error")
                     and v.get("local_port"))
        if not ids or self.lat_window <= 0 or not shutil.which("tcpdump"):
            return {"error": "no capture (no viewers, LAT_WINDOW=0 or no tcpdump)"}
        k = min(self.lat_viewers, len(ids))
        pick = [ids[(j * (len(ids) - 1)) // max(1, k - 1)] for j in range(k)]
        ports = sorted({int(c.viewers[i]["local_port"]) for i in pick})
        flt = ("udp and ((src host %s and src portrange %d-%d) or "
               "(dst host %s and (%s)))" % (
                   procs.GW_ADDR, procs.RTP_PORTS[0], procs.RTP_PORTS[1],
                   procs.CLIENT_ADDR, " or ".join("dst port %d" % p for p in ports)))
        pcap = os.path.join(self.tmp, "lat-%s.pcap" % tag)
        tlog = open(os.path.join(self.logs, "tcpdump-%s.log" % tag), "w")
        td = subprocess.Popen(["tcpdump", "-i", "any", "-s", "128", "-n", "-B", "8192",
                               "-w", pcap, flt], stdout=tlog, stderr=tlog)
        # The window starts once tcpdump listens (it says so on stderr).
        tpath = os.path.join(self.logs, "tcpdump-%s.log" % tag)
        end = time.monotonic() + 10
        while time.monotonic() < end and td.poll() is None:
            with open(tpath) as fh:
                if "listening on" in fh.read():
                    break
            time.sleep(0.05)
        time.sleep(self.lat_window)
        td.send_signal(signal.SIGINT)
        try:
            td.wait(10)
        except subprocess.TimeoutExpired:
            td.kill()
            td.wait()
        tlog.close()
        try:
            res = latency.analyse(pcap, procs.RTP_PORTS, ports)
        except (OSError, ValueError) as e:
            res = {"error": str(e)}
        with open(tpath) as fh:
            m = re.search(r"(\d+) packets dropped by kernel", fh.read())
        # Packets tcpdump lost make frames incomplete: they are left out.
        res["capture_dropped"] = int(m.group(1)) if m else None
        if os.path.exists(pcap):
            if os.environ.get("KEEP_PCAP") == "1":
                shutil.copy(pcap, self.logs)
            os.unlink(pcap)
        return res

    def steady(self, n, base):
        log("steady: N=%d (ramp %d ms)" % (n, self.ramp))
        c = self.client("cam", n, self.ramp, "client-n%d" % n)
        ready = self.wait_ready(c, n, self.ramp)
        time.sleep(self.settle)
        self.wait_quiet({"gateway": self.gw.pid, "client": c.pid, "camera": self.cam.pid})
        s0 = c.next_stats()
        w = procstat.Window({"gateway": self.gw.pid, "client": c.pid,
                             "camera": self.cam.pid}).run(self.window)
        s1 = c.next_stats()
        lat = self.capture(c, n, "n%d" % n)
        self.stop_client(c, "cam")
        r = {"n": n, "ready": ready.get("ready"), "failed": ready.get("failed"),
             "window_s": w["seconds"], "machine_busy_pct": w["machine_busy_pct"],
             "gateway": w["gateway"], "client": w["client"], "camera": w["camera"],
             "first_kf_ms_p50": pct(viewer_times(c, "first_kf_ms"), 50),
             "first_kf_ms_p95": pct(viewer_times(c, "first_kf_ms"), 95),
             "latency": lat}
        r.update(delivery(s0, s1))
        ours = sum((w[k] or {}).get("cpu_pct") or 0 for k in ("gateway", "client", "camera"))
        if w["machine_busy_pct"] is not None:
            # CPU used by anything else on the machine during the window, in
            # % of one core: a large value means a contaminated run.
            r["other_load_pct"] = w["machine_busy_pct"] * (os.cpu_count() or 1) - ours
        g = w["gateway"]
        bg = base["gateway"]
        if g and bg and n:
            r["cpu_ms_per_viewer_s"] = g["cpu_ms"] / w["seconds"] / n
            r["cpu_ms_per_viewer_s_marginal"] = (
                g["cpu_ms"] / w["seconds"] - bg["cpu_ms"] / base["seconds"]) / n
            r["rss_kb_per_viewer"] = (g["rss_kb"] - bg["rss_kb"]) / n
            r["threads_per_viewer"] = (g["threads"] - bg["threads"]) / n
        r["limit"] = limit(r)
        return r

    def join_rate(self, ramp):
        n = self.join_n
        log("join rate: %d viewers, ramp %d ms" % (n, ramp))
        c = self.client("cam", n, ramp, "join-r%d" % ramp)
        t0 = time.monotonic()
        ready = self.wait_ready(c, n, ramp)
        elapsed = ready.get("elapsed_ms") or (time.monotonic() - t0) * 1000
        self.stop_client(c, "cam")
        ok = ready.get("ready", 0)
        # Viewer i starts at i * ramp: the time until the last one is
        # connected (DTLS done), without the wait for a keyframe.
        done = [int(i) * ramp + v["dtls_ms"] for i, v in c.viewers.items()
                if not v.get("error") and (v.get("dtls_ms") or -1) >= 0]
        return {"n": n, "ramp_ms": ramp,
                "connected_per_s": len(done) / (max(done) / 1000.0) if done else None,
                "offered_per_s": (1000.0 / ramp) if ramp else None,
                "ready": ok, "failed": ready.get("failed"),
                "elapsed_ms": elapsed,
                "joins_per_s": ok / (elapsed / 1000.0) if elapsed else None,
                "answer_ms_p50": pct(viewer_times(c, "answer_ms"), 50),
                "answer_ms_p95": pct(viewer_times(c, "answer_ms"), 95),
                "dtls_ms_p50": pct(viewer_times(c, "dtls_ms"), 50),
                "first_kf_ms_p50": pct(viewer_times(c, "first_kf_ms"), 50)}

    def ttff_live(self, path, gop):
        # The ramp spreads the joins over the GOP, so each viewer arrives at
        # another point of it (keyframes are not requested from the camera).
        n = self.ttff_n
        ramp = int(gop * 1000 * 1.37 / max(1, n)) + 1
        log("time to first frame: %s (GOP %d s), %d viewers, ramp %d ms"
            % (path, gop, n, ramp))
        c = self.client(path, n, ramp, "ttff-%s" % path)
        ready = self.wait_ready(c, n, ramp)
        self.stop_client(c, path)
        kf = viewer_times(c, "first_kf_ms")
        return {"path": path, "gop_s": gop, "n": n, "ready": ready.get("ready"),
                "failed": ready.get("failed"), "first_kf_ms_p50": pct(kf, 50),
                "first_kf_ms_p95": pct(kf, 95),
                "first_rtp_ms_p50": pct(viewer_times(c, "first_rtp_ms"), 50),
                "answer_ms_p50": pct(viewer_times(c, "answer_ms"), 50)}

    def cold(self):
        kfs, fails = [], 0
        url = "http://%s:%d/v1/paths/cold" % (procs.GW_ADDR, procs.HTTP_PORT)
        for i in range(self.cold_runs):
            end = time.monotonic() + 15
            while time.monotonic() < end:
                try:
                    if procs.http_json(url).get("state") == "idle":
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.2)
            time.sleep(0.5)  # the camera's media is torn down too
            log("cold start %d/%d" % (i + 1, self.cold_runs))
            c = self.client("cold", 1, 0, "cold-%d" % i)
            ready = self.wait_ready(c, 1, 0)
            self.stop_client(c, "cold")
            kf = viewer_times(c, "first_kf_ms")
            if ready.get("ready") == 1 and kf:
                kfs += kf
            else:
                fails += 1
        return {"runs": self.cold_runs, "failed": fails,
                "first_kf_ms_p50": pct(kfs, 50), "first_kf_ms_max": max(kfs) if kfs else None,
                "first_kf_ms": kfs}

    # -- all ------------------------------------------------------------
    def run(self, ns):
        clip1 = clips.ensure_clip(1, self.quick, log)
        clip4 = clips.ensure_clip(4, self.quick, log)
        self.cam = procs.start_camera(self.a.camera, {"gop1": clip1, "gop4": clip4},
                                      self.logs)
        self.procs.append(self.cam)
        rtsp = "rtsp://%s:%d/" % (procs.GW_ADDR, procs.RTSP_PORT)
        live = {"rtsp-transport": "udp", "on-demand": "false"}
        res = {"meta": meta(self, ns), "steady": [], "join": []}
        conf = procs.write_gateway_config(
            self.tmp, {"cam": dict(source=rtsp + "gop%d" % self.gop, **live)})
        self.gw = procs.start_gateway(self.a.gateway, conf, self.logs, ["cam"])
        self.procs.append(self.gw)
        time.sleep(self.settle)
        base = self.baseline()
        res["baseline"] = base
        for n in ns:
            res["steady"].append(self.steady(n, base))
            self.save(res)
        for ramp in self.join_ramps:
            res["join"].append(self.join_rate(ramp))
        self.gw.stop()
        conf = procs.write_gateway_config(self.tmp, {
            "gop1": dict(source=rtsp + "gop1", **live),
            "gop4": dict(source=rtsp + "gop4", **live),
            "cold": {"source": rtsp + "gop1", "rtsp-transport": "udp",
                     "on-demand": "true", "close-after": "0"}})
        self.gw = procs.start_gateway(self.a.gateway, conf, self.logs,
                                      ["gop1", "gop4"], name="gateway-ttff")
        self.procs.append(self.gw)
        res["ttff"] = [self.ttff_live("gop1", 1), self.ttff_live("gop4", 4)]
        res["cold"] = self.cold()
        res["slopes"] = report.slopes(res)
        res["gateway_log"] = gateway_log_problems(self.logs)
        self.save(res)
        return res

    def save(self, res):
        with open(os.path.join(self.out, "result.json"), "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)

    def cleanup(self):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                log("warning: stopping %s: %s" % (p.name, e))
        shutil.rmtree(self.tmp, ignore_errors=True)


def delivery(s0, s1):
    """Per-viewer packet rates and loss between two cumulative stats lines."""
    if not s0 or not s1 or "per_viewer" not in s1:
        return {"delivery_error": "no stats from the client"}
    dt = (s1["t_ms"] - s0["t_ms"]) / 1000.0
    p0 = s0.get("per_viewer") or []
    rates, losses, vrates, arates, fps = [], [], [], [], []
    tot_got = tot_lost = 0
    for i, v in enumerate(s1["per_viewer"]):
        a = p0[i] if i < len(p0) else [0, 0, 0, 0]
        vid, aud, lost = v[0] - a[0], v[1] - a[1], v[2] - a[2]
        fps.append((v[3] - a[3]) / dt if dt > 0 else 0)
        rates.append((vid + aud) / dt if dt > 0 else 0)
        vrates.append(vid / dt if dt > 0 else 0)
        arates.append(aud / dt if dt > 0 else 0)
        got = vid + aud
        losses.append(100.0 * lost / (got + lost) if got + lost else 100.0)
        tot_got += got
        tot_lost += lost
    n = len(rates) or 1
    return {"stats_window_s": dt,
            "pkts_s_per_viewer": sum(rates) / n,
            "pkts_s_min": min(rates) if rates else 0,
            # Video frames (marker bits) per second: the clip's frame rate
            # when a viewer gets the whole stream.
            "frames_s_per_viewer": sum(fps) / n,
            "frames_s_min": min(fps) if fps else 0,
            "video_pkts_s_per_viewer": sum(vrates) / n,
            "audio_pkts_s_per_viewer": sum(arates) / n,
            "loss_pct": 100.0 * tot_lost / (tot_got + tot_lost) if tot_got + tot_lost else 100.0,
            "loss_pct_max": max(losses) if losses else 100.0,
            "client_cpu_ms_reported": s1.get("cpu_ms", 0) - s0.get("cpu_ms", 0)}


def limit(r):
    """What limits this N: the client (one busy process), the machine (both
    cores busy) or nothing visible (the figures describe the gateway)."""
    c = r.get("client") or {}
    if (c.get("cpu_pct") or 0) >= 90:
        return "client"
    if (r.get("machine_busy_pct") or 0) >= 90:
        return "machine"
    return "-"


def gateway_log_problems(logs):
    """CRITICAL and ERROR lines of the gateway logs: a benchmark must not
    hide what went wrong while it measured."""
    out = []
    for name in sorted(os.listdir(logs)):
        if name.startswith("gateway") and name.endswith(".log"):
            with open(os.path.join(logs, name), errors="replace") as fh:
                out += ["%s: %s" % (name, l.strip()) for l in fh
                        if " CRITICAL " in l or " ERROR " in l]
    return out


def local_routing():
    """Both 10.99.0.1 and 10.99.0.2 are local in the namespace: the gateway's
    media to the viewers goes out on v0 and comes back in on v1 with a local
    source address, which Linux drops unless accept_local is on (and the
    reverse-path filter off). Only this namespace is changed."""
    for k in ("all", "default", "v0", "v1"):
        for key, val in (("accept_local", "1"), ("rp_filter", "0")):
            path = "/proc/sys/net/ipv4/conf/%s/%s" % (k, key)
            try:
                with open(path, "w") as fh:
                    fh.write(val)
            except OSError as e:
                log("warning: cannot set %s: %s" % (path, e))


def meta(b, ns):
    rev = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)),
                          "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {"date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host": platform.node(), "cpus": os.cpu_count(),
            "kernel": platform.release(), "git": rev.stdout.strip(),
            "quick": b.quick, "ns": ns, "window_s": b.window, "base_s": b.base,
            "ramp_ms": b.ramp, "gop_s": b.gop, "lat_window_s": b.lat_window,
            "clip": clips.clip_params(b.quick)}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--camera", required=True)
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("ns", nargs="*", type=int)
    a = ap.parse_args()
    if os.environ.get("GW_NETNS") != "1":
        sys.exit("run_bench: must run inside tests/e2e/netns.sh (use bench/run.sh)")
    ns = a.ns or ([2] if a.quick else [1, 10, 25, 50, 100])
    if any(n <= 0 for n in ns):
        sys.exit("run_bench: every N must be positive")
    os.makedirs(a.out, exist_ok=True)
    local_routing()
    b = Bench(a)
    try:
        res = b.run(ns)
    except RuntimeError as e:
        # What was measured before the failure stays in result.json.
        log("FAILED: %s" % e)
        sys.exit(1)
    finally:
        b.cleanup()
    md = report.markdown(res)
    with open(os.path.join(a.out, "result.md"), "w") as f:
        f.write(md)
    if not a.no_plot:
        try:
            report.plot(res, os.path.join(a.out, "plot.png"))
        except ImportError as e:
            log("FAILED: no plot (%s): scripts/install-deps.sh --bench installs "
                "python3-matplotlib" % e)
            sys.exit(1)
    print(md)
    log("results in %s" % a.out)


if __name__ == "__main__":
    main()
