#!/usr/bin/python3
"""300 viewers come and go in 6 waves of 50; the gateway returns to baseline.

One on-demand path (close-after=2). Each wave: one process hosts 50
webrtcbin viewers (2 of them decode, the others count RTP packets), they
POST their offers over WHEP within about 3 s, they must reach "connected" and
receive video within 40 s (the decoding ones 320x240 frames), then every
viewer DELETEs its session (200). Known issue, tolerated and logged: in such
a burst about one viewer in 50 stays in ICE "checking" for good; at most 2
per wave (never a decoding one) are accepted, and their sessions must be
freed like the others. After each wave the path must drop to 0 readers and,
after close-after, close its upstream (the camera's session ends).

The gateway's open file descriptors (/proc/PID/fd), threads (Threads: in
/proc/PID/status) and resident memory (VmRSS) are measured after the first
(warm-up) wave, once the path is idle, and again after the last wave. They
must come back within 30 s to:
  fds      baseline +- 2
  threads  baseline +- 2
  RSS      at most baseline + max(10 %, 8 MiB)
(a leak of one viewer's webrtcbin per wave would be about 8 threads, 2 MiB
and a few fds per viewer, i.e. far beyond these over 250 viewers).
"""

import json
import os
import time

import gwtest as g
import test_gateway_lib as gl

WAVES = 6
PER_WAVE = 50
DECODING = 2
FD_TOL = 2
THREAD_TOL = 2
RSS_TOL_FRAC = 0.10
RSS_TOL_KB = 8 * 1024
CONNECT_S = 40
MAX_STUCK = 2
STUCK = []


def measure(pid):
    fds = len(os.listdir("/proc/%d/fd" % pid))
    threads = rss = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return {"fds": fds, "threads": threads, "rss_kb": rss}


def within(m, base):
    rss_tol = max(RSS_TOL_KB, int(base["rss_kb"] * RSS_TOL_FRAC))
    return (abs(m["fds"] - base["fds"]) <= FD_TOL
            and abs(m["threads"] - base["threads"]) <= THREAD_TOL
            and m["rss_kb"] <= base["rss_kb"] + rss_tol)


def wave(procs, gw, cam, n):
    t0 = time.monotonic()
    v = g.start_gst_viewers(
        procs, gw.whep_url("cam"), count=PER_WAVE, name="wave%d" % n,
        extra=["--decode", str(DECODING), "--stagger", "0.06"])
    def ok(x):
        return (x["pc"] == "connected" and x["packets"] > 0
                and (x["id"] >= DECODING or x["frames"] >= 10))
    stuck_ids = set()
    try:
        stats = v.wait_stats(g.all_viewers(ok), CONNECT_S,
                             "all %d viewers connected and receiving video"
                             % PER_WAVE)
    except g.TestFailure:
        # Known issue: in a burst of 50 offers about one viewer stays in ICE
        # "checking" for good; tolerated (and reported), not hidden.
        stats = v.latest_stats()
        stuck = [x for x in stats["viewers"] if not ok(x)]
        g.log("wave %d: %d viewers not connected after %d s: %s"
              % (n, len(stuck), CONNECT_S, ", ".join(
                  "%d (pc %s, ice %s, HTTP %s)" % (x["id"], x["pc"], x["ice"],
                                                   x["http_status"])
                  for x in stuck)))
        g.check(len(stuck) <= MAX_STUCK and all(
            x["id"] >= DECODING for x in stuck),
            "wave %d: %d viewers not connected (at most %d tolerated)"
            % (n, len(stuck), MAX_STUCK))
        STUCK.append(len(stuck))
        stuck_ids = {x["id"] for x in stuck}
    for x in stats["viewers"][:DECODING]:
        g.check(x["width"] == 320 and x["height"] == 240,
                "viewer %d decodes %dx%d" % (x["id"], x["width"],
                                             x["height"]))
    p = gw.paths()["cam"]
    g.check(PER_WAVE - MAX_STUCK <= p["readers"] <= PER_WAVE,
            "wave %d: %d readers" % (n, p["readers"]))
    g.check(g.camera_sessions(cam) == n,
            "wave %d: %d RTSP sessions so far (one per wave)"
            % (n, g.camera_sessions(cam)))
    t_up = time.monotonic() - t0
    cam_mark = cam.n_lines()
    rc, clean = v.stop(timeout=30)
    g.check(clean and rc == 0, "wave %d: viewer process exit %s" % (n, rc))
    last = v.latest_stats()
    # A stuck viewer's session was closed by the gateway after 30 s without
    # a connection: its DELETE finds nothing (404).
    bad = [x for x in last["viewers"] if x["deleted"] != 200
           and not (x["id"] in stuck_ids and x["deleted"] == 404)]
    g.check(not bad, "wave %d: %d DELETEs failed, first: %s"
            % (n, len(bad), bad[:1]))
    gw.wait_paths(lambda ps: ps["cam"]["readers"] == 0, 15,
                  "wave %d: 0 readers after the DELETEs" % n)
    cam.wait_line(r"^SESSION-END 0$", 15, start=cam_mark)
    gw.wait_paths(lambda ps: ps["cam"]["state"] == "idle", 10,
                  "wave %d: path idle" % n)
    g.log("wave %d: %d viewers up in %.1f s, all gone and upstream closed "
          "%.1f s after start" % (n, PER_WAVE, t_up, time.monotonic() - t0))


def test(procs):
    cam, url = g.start_camera(procs, args=["--audio", "none"])
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\non-demand=true\nclose-after=2\n"
                  % url)
    gw.start()
    pid = gw.proc.pid

    wave(procs, gw, cam, 1)
    time.sleep(2)
    base = measure(pid)
    g.log("baseline after the warm-up wave: %s" % json.dumps(base))
    for n in range(2, WAVES + 1):
        wave(procs, gw, cam, n)
        g.log("after wave %d: %s" % (n, json.dumps(measure(pid))))

    m = None
    deadline = time.monotonic() + 30
    for _ in range(61):
        m = measure(pid)
        if within(m, base) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    g.log("after %d viewers: %s (baseline %s); viewers stuck in ICE "
          "checking per wave: %s" % (WAVES * PER_WAVE, json.dumps(m),
                                      json.dumps(base), STUCK or "none"))
    g.check(within(m, base),
            "the gateway did not return to its baseline after %d viewers: "
            "%s vs %s (tolerance fds +-%d, threads +-%d, RSS +max(%d%%, "
            "%d MiB))" % (WAVES * PER_WAVE, json.dumps(m), json.dumps(base),
                          FD_TOL, THREAD_TOL, RSS_TOL_FRAC * 100,
                          RSS_TOL_KB // 1024))
    m = gw.metrics()
    g.check(m.get("gw_sessions") == 0 and
            m.get("gw_sessions_total") == WAVES * PER_WAVE,
            "/metrics: sessions %s, sessions_total %s"
            % (m.get("gw_sessions"), m.get("gw_sessions_total")))
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=280)
