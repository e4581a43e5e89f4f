#!/usr/bin/python3
"""Every gst-launch line and pipeline= example of the README works as written.

The lines are read from README.md itself, so the README and this test cannot
drift apart:
  - each `gst-launch-1.0 ...` line of its sh blocks is run verbatim (only the
    placeholder rtsp://CAMERA/stream becomes the test camera's URL; gwsink
    keeps its defaults: port 8889 on every address, which inside the test's
    network namespace are 10.99.0.1 and 10.99.0.2);
  - the `pipeline` example of the path options table is served by the
    gateway as a path.

User-visible check, for each: headless Chromium on the player page decodes
H.264 frames of 320x240; a webrtcbin viewer (H.264 42001f, 42e01f, 4d001f)
and an aiortc viewer (its default audio+video offer; H.264 42001f, 42e01f)
each decode >= N H.264 frames of 320x240, in a profile browsers decode.
And the videotestsrc line without its caps filter (High 4:4:4): Chromium,
which offers that profile, decodes it. And an H.265 line (gwsink picks
h265parse by what it is linked to): a webrtcbin viewer offering H.265
decodes H.265 frames of 320x240.
"""

import os
import re
import shlex
import socket
import time

import gwtest as g
import test_gateway_lib as gl

FRAMES = 30
PLACEHOLDER = "rtsp://CAMERA/stream"


def readme():
    with open(os.path.join(os.environ["GW_SOURCE_DIR"], "README.md")) as f:
        return f.read()


def launch_lines(text):
    """The gst-launch-1.0 lines of the README's sh code blocks."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("gst-launch-1.0 "):
                out.append(line)
    return out


def pipeline_examples(text):
    """The e.g. of the `pipeline` rows of the README's option tables."""
    return re.findall(r"^\| `pipeline` \|[^|]*e\.g\. `([^`]+)`", text, re.M)


# H.264 profiles every browser decodes (4:2:0, 8 bit). High 4:4:4 is what
# x264enc makes from videotestsrc's default Y444: only some viewers decode it
# (Chromium does; Firefox's OpenH264 does not).
BROWSER_PROFILES = ("constrained-baseline", "baseline", "main", "high")


def view(procs, url, page, name):
    """Headless Chromium on the player `page`, a webrtcbin and an aiortc
    viewer of the WHEP `url` each decode frames."""
    g.chromium_plays(procs, page, 320, 240)
    g.log("%s, Chromium: decoded on the player page" % name)
    viewers = [
        (g.start_gst_viewers(procs, url, name=name + "-webrtcbin"),
         "webrtcbin"),
        (g.start_aiortc_viewer(procs, url, audio=True, name=name + "-aiortc"),
         "aiortc"),
    ]
    for viewer, kind in viewers:
        # x264enc's default keyframe interval is 250 frames (8 s at 30 fps);
        # the stream's kept GOP lets a viewer start at once, but allow for a
        # slow start.
        stats = g.wait_frames(viewer, FRAMES, 40)
        v = stats["viewers"][0]
        g.log("%s, %s viewer: HTTP %s, %d frames %dx%d %s (%s)"
              % (name, kind, v["http_status"], v["frames"], v["width"],
                 v["height"], v["codec"], v["profile"]))
        g.check(v["codec"] == "H264", "%s, %s viewer: codec %r"
                % (name, kind, v["codec"]))
        if kind == "webrtcbin":  # it reports the profile it parsed
            g.check(v["profile"] in BROWSER_PROFILES,
                    "%s: H.264 profile %r, which many browsers do not decode"
                    % (name, v["profile"]))
    for viewer, _ in viewers:
        viewer.stop()


def wait_port_free(port, timeout=10):
    for _ in range(int(timeout / 0.2) + 2):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((g.GW_IP, port))
            return
        except OSError:
            time.sleep(0.2)
        finally:
            s.close()
    raise g.TestFailure("port %d still in use %d s after gst-launch ended"
                        % (port, timeout))


def test(procs):
    text = readme()
    lines = launch_lines(text)
    examples = pipeline_examples(text)
    g.log("README: %d gst-launch lines, %d pipeline= examples"
          % (len(lines), len(examples)))
    g.check(len(lines) >= 3, "README has %d gst-launch lines (want its 3 "
            "or more): %s" % (len(lines), lines))
    g.check(len(examples) >= 1, "README's pipeline option has no example")

    cam, url = g.start_camera(procs)  # H.264 + Opus, 320x240
    for i, line in enumerate(lines):
        g.log("README line %d: %s" % (i + 1, line))
        argv = shlex.split(line.replace(PLACEHOLDER, url))
        m = re.search(r"\bport=(\d+)", line)
        port = int(m.group(1)) if m else 8889  # gwsink's default
        name = "line%d" % (i + 1)
        launch = g.gst_launch(procs, name, shlex.join(argv[1:]), port)
        base = "http://%s:%d" % (g.GW_IP, port)
        view(procs, base + "/whep", base + "/", name)
        g.check(launch.alive(), "%s exited" % name)
        rc, clean = launch.stop()
        if not clean:
            g.log("NOTE: %s did not exit within 5 s of SIGINT" % name)
        wait_port_free(port)

    # Without the README's caps filter x264enc makes High 4:4:4. Chromium
    # offers it (f4001f, on a payload type below 96) and decodes it: it is
    # answered and played, not refused.
    port = 8889
    launch = g.gst_launch(procs, "high444",
                          "videotestsrc is-live=true ! x264enc tune=zerolatency"
                          " ! h264parse ! gwsink", port)
    g.chromium_plays(procs, "http://%s:%d/" % (g.GW_IP, port), 320, 240)
    g.log("High 4:4:4 without the caps filter: Chromium decoded it")
    launch.stop()
    wait_port_free(port)

    launch = g.gst_launch(procs, "h265-line",
                          "videotestsrc is-live=true ! video/x-raw,format=I420,"
                          "width=320,height=240 ! x265enc tune=zerolatency "
                          "speed-preset=ultrafast key-int-max=30 ! h265parse "
                          "! gwsink", port)
    viewer = g.start_gst_viewers(procs, "http://%s:%d/whep" % (g.GW_IP, port),
                                 name="h265-line-viewer", extra=["--h265"])
    v = g.wait_frames(viewer, FRAMES, 40)["viewers"][0]
    g.log("H.265 line: %d frames %dx%d %s (%s)" % (v["frames"], v["width"],
          v["height"], v["codec"], v["profile"]))
    g.check(v["codec"] == "H265", "H.265 line: codec %r" % v["codec"])
    g.check((v["width"], v["height"]) == (320, 240),
            "H.265 line: %dx%d" % (v["width"], v["height"]))
    viewer.stop()
    launch.stop()
    wait_port_free(port)

    gw = gl.Gateway(procs)
    for i, example in enumerate(examples):
        g.log("README pipeline= example %d: %s" % (i + 1, example))
        gw.write_path("example%d" % (i + 1), "[path]\npipeline=%s\n" % example)
    gw.start()
    for i in range(len(examples)):
        path = "example%d" % (i + 1)
        view(procs, gw.whep_url(path), "%s/%s/" % (gw.base_url(), path), path)
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=280)
