#!/usr/bin/python3
"""Camera credentials never leave the gateway.

A password is planted in the camera URLs of two paths: one right, so the
path streams, one wrong, so the source keeps failing and retrying. With our
debug categories at their highest level, every output a user or a client
can see is collected and searched for the passwords:
- the gateway's stdout and stderr (its log and GStreamer's gw* debug),
- the index, the player page, /v1/paths, /metrics,
- a WHEP answer (SDP) and the error answers of WHEP,
- --check-config on a broken file that holds a password.
The right password must also work: a viewer decodes frames through it.
"""

import os
import subprocess

import gwtest as g
import test_gateway_lib as gl

RIGHT = "Pl4nted-S3cret-7391"
WRONG = "Wr0ng-S3cret-5520"


def test(procs):
    cam, url = g.start_camera(procs, args=("--user", "admin",
                                           "--password", RIGHT))
    host_path = url[len("rtsp://"):]
    good = "rtsp://admin:%s@%s" % (RIGHT, host_path)
    bad = "rtsp://admin:%s@%s" % (WRONG, host_path)

    os.environ["GST_DEBUG"] = "gw*:9,gateway*:9,WARN"
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\n" % good)
    gw.write_path("locked", "[path]\nsource=%s\nstart-timeout=3\n" % bad)
    gw.start()

    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"))
    g.wait_frames(viewer, 15, 40)

    seen = []                    # (where, text)
    for route in ("/", "/cam/", "/locked/", "/v1/paths", "/v1/paths/cam",
                  "/v1/paths/locked", "/metrics"):
        st, hdrs, body = g.http_request("GET", gw.base_url() + route)
        g.check(st == 200, "GET %s: %d" % (route, st))
        seen.append((route, body.decode("utf-8", "replace")
                     + repr(sorted(hdrs.items()))))
    st, hdrs, text, _ = gw.post_offer("cam")
    g.check(st == 201, "WHEP POST on cam: %d %r" % (st, text))
    seen.append(("WHEP answer", text + repr(sorted(hdrs.items()))))
    g.check(gw.delete(gw.base_url() + hdrs.get("location", "")) == 200,
            "DELETE of the WHEP session failed")
    for body in ("garbage", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"):
        st, hdrs, text, _ = gw.post_offer("locked", sdp=body, timeout=30)
        g.check(st == 400, "a bad offer on locked got %d %r" % (st, text))
        seen.append(("WHEP error %d" % st, text))
    # A good offer on the path whose camera refuses the password: the
    # source fails and retries, and the viewer gets 503 after start-timeout.
    st, hdrs, text, _ = gw.post_offer("locked", timeout=30)
    g.check(st == 503, "an offer on the locked path got %d %r" % (st, text))
    seen.append(("WHEP error %d" % st, text))
    # The failing source retries a few times while we watch.
    gw.wait_log(r"path locked: source retrying", 20)

    broken = os.path.join(gw.dir, "broken")
    os.mkdir(broken)
    with open(os.path.join(broken, "x.pipeline"), "w") as f:
        f.write("[path]\nsource=http://admin:%s@camera/s\n" % RIGHT)
    r = subprocess.run([gl.gateway_binary(), "--check-config",
                        "--pipelines", broken], capture_output=True,
                       text=True, timeout=20)
    g.check(r.returncode == 1, "--check-config on a broken file exited %d"
            % r.returncode)
    g.check("x.pipeline:2: source" in r.stderr, "no file:line: field in %r"
            % r.stderr)
    seen.append(("--check-config", r.stdout + r.stderr))

    gw.stop_and_check()
    log = "\n".join(gw.log()) + "\n".join(gw.proc.lines())
    g.check(len(log) > 1000, "the debug log is suspiciously short (%d)"
            % len(log))
    g.check(host_path in log,
            "the log never mentions the camera URL, so the search below "
            "would prove nothing")
    seen.append(("gateway output", log))

    for where, text in seen:
        for secret in (RIGHT, WRONG):
            g.check(secret not in text, "a camera password appears in %s"
                    % where)
    g.log("searched %d outputs, %d bytes: no password"
          % (len(seen), sum(len(t) for _, t in seen)))


if __name__ == "__main__":
    g.run_test(test, timeout=110)
