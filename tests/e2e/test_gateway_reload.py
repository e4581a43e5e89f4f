#!/usr/bin/python3
"""Configuration reloads while viewers watch.

First, without media: `webrtc-gateway --check-config` on a pipelines
directory holding a file with an unknown field exits 1 and prints
`FILE:LINE: FIELD: unknown field` (and exits 0 once the file is gone), and
the server refuses to start on that directory.

Then a gateway with two always-on paths A and B (videotestsrc sources) and a
viewer on A that decodes throughout. User-visible checks:
(a) a new file C: GET /v1/paths lists C within 5 s, a viewer on C decodes;
(b) B's file is broken (unknown field on line 3): the log names
    B.pipeline:3 and the field; B is still listed and ready, nothing is
    restarted, and a new viewer on B decodes;
(c) B's file changes (now 160x120): the log says B restarts, B's viewer is
    closed (its session is gone: DELETE gives 404, no more frames, one
    session fewer in /metrics), a new viewer on B decodes 160x120;
(d) C's file is deleted: C leaves GET /v1/paths and its viewer is closed;
(e) a change the directory watch cannot see (written through a hard link
    from another directory) is not applied until SIGHUP, then is: B
    restarts and a new viewer decodes the new size (192x144).
A's viewer keeps decoding across every step (its frame count rises after
each, and it never freezes for 3 s) and A's source is started exactly once.
The gateway logs no CRITICAL at any step, and stopped with SIGTERM while
viewers watch it exits 0 (still without CRITICAL).
"""

import os
import re
import subprocess
import time

import gwtest as g
import test_gateway_lib as gl


def path_text(width, height, extra=""):
    return "[path]\npipeline=%s\n%s" % (gl.testsrc_pipeline(width, height),
                                       extra)


BROKEN = ("[path]\npipeline=%s\nbogus-field=1\n"
          % gl.testsrc_pipeline(320, 240))


def sessions(gw):
    return int(gw.metrics().get("gw_sessions", -1))


def check_config_cli(procs):
    d = procs.mkdtemp("gw-e2e-checkconf-")
    pdir = os.path.join(d, "pipelines")
    os.mkdir(pdir)
    conf = os.path.join(d, "gateway.conf")
    port = g.free_port()
    with open(conf, "w") as f:
        f.write("[server]\nlisten=%s:%d\npipelines=pipelines\n"
                % (g.GW_IP, port))
    with open(os.path.join(pdir, "good.pipeline"), "w") as f:
        f.write(path_text(320, 240))
    bad = os.path.join(pdir, "bad.pipeline")
    with open(bad, "w") as f:
        f.write(BROKEN)
    want = re.compile(r"bad\.pipeline:3: bogus-field: unknown field")

    binary = gl.gateway_binary()
    r = subprocess.run([binary, "--check-config", "--config", conf],
                       capture_output=True, text=True, timeout=20)
    g.log("--check-config (broken): rc=%d stdout=%r stderr=%r"
          % (r.returncode, r.stdout, r.stderr))
    g.check(r.returncode == 1, "--check-config on a broken file exited %d"
            % r.returncode)
    g.check(want.search(r.stderr), "--check-config did not print "
            "bad.pipeline:3: bogus-field: %r" % r.stderr)
    g.check("good.pipeline" not in r.stderr,
            "--check-config complained about the good file: %r" % r.stderr)

    try:
        r = subprocess.run([binary, "--config", conf], capture_output=True,
                           text=True, timeout=20)
    except subprocess.TimeoutExpired:
        # subprocess.run has killed it (by PID).
        raise g.TestFailure("the server started (still running after 20 s) "
                            "on a pipelines directory with a broken file")
    g.log("server on the broken dir: rc=%d stderr=%r"
          % (r.returncode, r.stderr[-400:]))
    g.check(r.returncode == 1, "the server on a broken file exited %d"
            % r.returncode)
    g.check(want.search(r.stderr), "the server did not print the "
            "problem: %r" % r.stderr[-400:])
    g.check("listening" not in r.stdout,
            "the server started listening: %r" % r.stdout)

    os.unlink(bad)
    r = subprocess.run([binary, "--check-config", "--config", conf],
                       capture_output=True, text=True, timeout=20)
    g.check(r.returncode == 0 and "configuration OK" in r.stdout,
            "--check-config without the broken file: rc=%d %r %r"
            % (r.returncode, r.stdout, r.stderr))


def test(procs):
    check_config_cli(procs)

    gw = gl.Gateway(procs)
    gw.write_path("A", path_text(320, 240))
    gw.write_path("B", path_text(320, 240))
    gw.start()
    gw.wait_paths(lambda ps: sorted(ps) == ["A", "B"] and all(
        p["state"] == "ready" for p in ps.values()), 15, "A and B ready")

    va = g.start_gst_viewers(procs, gw.whep_url("A"), name="viewerA")
    g.wait_frames(va, 15, 30)
    # From now on A's picture must never freeze: every reload below
    # leaves path A alone.
    stall = gl.StallWatch(va)

    def a_keeps_decoding(step):
        n = gl.wait_more_frames(va, 15, 10, "A's viewer decoding " + step)
        g.log("A's viewer: %d frames %s" % (n, step))

    # (a) a new file adds a path.
    mark = gw.n_log()
    gw.write_path("C", path_text(320, 240))
    t0 = time.monotonic()
    gw.wait_paths(lambda ps: "C" in ps, 5, "C listed")
    g.log("C listed %.2f s after its file was written"
          % (time.monotonic() - t0))
    gw.wait_log(r"path C added", 2, mark)
    vc = g.start_gst_viewers(procs, gw.whep_url("C"), name="viewerC")
    g.wait_frames(vc, 15, 30)
    a_keeps_decoding("after C was added")
    gw.check_no_criticals(" once C was added")

    # (b) a broken file: reported, ignored; B keeps its last good definition.
    mark = gw.n_log()
    gw.write_path("B", BROKEN)
    _, line = gw.wait_log(r"B\.pipeline:3: bogus-field: unknown field", 5,
                          mark)
    g.log("reported: %s" % line)
    time.sleep(1.0)
    ps = gw.paths()
    g.check("B" in ps and ps["B"]["state"] == "ready",
            "after a broken file B is %s" % ps.get("B"))
    restarts = [l for l in gw.log()[mark:]
                if re.search(r"path \w+ (changed|removed|added)", l)]
    g.check(not restarts, "a broken file changed paths: %s" % restarts)
    vb = g.start_gst_viewers(procs, gw.whep_url("B"), name="viewerB")
    sb = g.wait_frames(vb, 15, 30)
    a_keeps_decoding("after B's file broke")
    gw.check_no_criticals(" once B's file broke")

    # (c) a changed file restarts its path only.
    n_sessions = sessions(gw)
    g.check(n_sessions == 3, "gw_sessions is %d with 3 viewers" % n_sessions)
    mark = gw.n_log()
    gw.write_path("B", path_text(160, 120))
    gw.wait_log(r"path B changed: restarting it", 5, mark)
    gl.assert_frozen(vb, 1.5, "B's old viewer after B restarted")
    st = gw.delete(sb["viewers"][0]["location"])
    g.check(st == 404, "B's old session still exists after the restart "
            "(DELETE: %d)" % st)
    g.check(sessions(gw) == n_sessions - 1,
            "gw_sessions %d after B's restart (was %d)"
            % (sessions(gw), n_sessions))
    others = [l for l in gw.log()[mark:]
              if re.search(r"path [AC] (changed|removed)", l)]
    g.check(not others, "other paths were touched: %s" % others)
    a_keeps_decoding("after B restarted")
    vb2 = g.start_gst_viewers(procs, gw.whep_url("B"), name="viewerB2")
    g.wait_frames(vb2, 15, 30, width=160, height=120)
    gw.check_no_criticals(" when B restarted")

    # (d) a removed file closes its path and its viewers.
    n_sessions = sessions(gw)
    mark = gw.n_log()
    gw.remove_path("C")
    gw.wait_paths(lambda ps: "C" not in ps and sorted(ps) == ["A", "B"], 5,
                  "C gone")
    gw.wait_log(r"path C removed", 2, mark)
    gl.assert_frozen(vc, 1.5, "C's viewer after C was removed")
    g.check(sessions(gw) == n_sessions - 1,
            "gw_sessions %d after C's removal (was %d)"
            % (sessions(gw), n_sessions))
    st, _, _ = gw.get("/C/")
    g.check(st == 404, "GET /C/ after C's removal: %d" % st)
    a_keeps_decoding("after C was removed")
    gw.check_no_criticals(" when C was removed")

    # (e) SIGHUP reloads. The change is written through a hard link in
    # another directory: the pipelines directory's watch does not see it.
    outside = procs.mkdtemp("gw-e2e-outside-")
    link = os.path.join(outside, "B.pipeline")
    os.link(gw.path_file("B"), link)
    mark = gw.n_log()
    with open(link, "w") as f:  # same inode, truncated and rewritten
        f.write(path_text(192, 144))
    time.sleep(2.0)
    early = [l for l in gw.log()[mark:] if "path B changed" in l]
    g.check(not early, "the watch saw the hard-linked change; this check "
            "cannot isolate SIGHUP: %s" % early)
    g.check(gl.frames(vb2) > 0, "B's viewer has no frames")
    more = gl.wait_more_frames(vb2, 5, 10, "B's viewer before SIGHUP")
    gw.reload_signal()
    gw.wait_log(r"SIGHUP: reloading", 3, mark)
    gw.wait_log(r"path B changed: restarting it", 3, mark)
    gl.assert_frozen(vb2, 1.5, "B's viewer after SIGHUP")
    g.log("B's viewer stopped at %d frames (%d before SIGHUP)"
          % (gl.frames(vb2), more))
    vb3 = g.start_gst_viewers(procs, gw.whep_url("B"), name="viewerB3")
    g.wait_frames(vb3, 15, 30, width=192, height=144)
    a_keeps_decoding("after SIGHUP")

    longest = stall.stop()
    g.log("A's viewer: longest freeze %.2f s (at %.1f s)"
          % (longest, stall.longest_at or 0))
    g.check(longest < 3.0, "A's picture froze for %.1f s (at %.1f s) while "
            "other paths were reloaded" % (longest, stall.longest_at or 0))
    starts = [l for l in gw.log() if "path A: starting its source" in l]
    g.check(len(starts) == 1, "A's source was started %d times" % len(starts))
    gw.check_no_criticals(" when B restarted on SIGHUP")
    # Stopped while viewers watch A and B.
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=140)
