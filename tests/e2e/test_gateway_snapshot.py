#!/usr/bin/python3
"""GET /NAME/snapshot.jpg: a JPEG of the path's kept keyframe.

Three paths on one gateway:
- "cam": an always-on H.264 camera (gw-test-camera, 384x216, ball pattern)
  with read-users;
- "idle": an on-demand path of the same camera that nobody watches;
- "hevc": an always-on H.265 camera (--codec h265, 320x240).

User-visible checks:
- a snapshot of "cam" is a JPEG (SOI and EOI markers, Content-Type
  image/jpeg, Cache-Control no-store) of the camera's size read from its
  SOF marker, and it is a picture (decoded here with jpegdec: not one flat
  colour);
- ?width=160 gives 160x90 (the aspect kept);
- without credentials, or with wrong ones: 401 with a challenge;
- two requests within a second get the same bytes from one decode (the
  gateway logs one decode, not two); a request after the second is up is
  decoded again;
- "idle": 503 naming the idle path, and the path stays idle (GET
  /v1/paths, the camera saw no new RTSP session);
- "hevc": a JPEG of 320x240 (avdec_h265);
- SIGTERM: the gateway exits 0 without CRITICAL.
"""

import base64
import re
import struct
import time

import gwtest as g
import test_gateway_lib as gl

AUTH = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret-pw")
        .decode()}
WRONG = {"Authorization": "Basic " + base64.b64encode(b"alice:nope")
         .decode()}


def jpeg_size(data, what):
    """(width, height) from a baseline/progressive JPEG's SOF marker, after
    checking it starts with SOI and ends with EOI."""
    g.check(data[:2] == b"\xff\xd8", "%s: no SOI marker (starts %r)"
            % (what, data[:8]))
    g.check(data[-2:] == b"\xff\xd9", "%s: no EOI marker (ends %r)"
            % (what, data[-8:]))
    i = 2
    for _ in range(1000):
        g.check(i + 4 <= len(data) and data[i] == 0xFF,
                "%s: broken marker at byte %d" % (what, i))
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        g.check(marker != 0xDA, "%s: scan data before any SOF" % what)
        i += 2 + length
    raise g.TestFailure("%s: no SOF marker" % what)


def luma_spread(data):
    """The spread (max - min) of the luma of the decoded JPEG, decoded here
    with GStreamer's jpegdec: 0 for one flat colour."""
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    from gi.repository import Gst, GstApp  # noqa: F401
    Gst.init(None)
    p = Gst.parse_launch("appsrc name=src caps=image/jpeg ! jpegdec ! "
                         "videoconvert ! video/x-raw,format=GRAY8 ! "
                         "appsink name=sink sync=false")
    src, sink = p.get_by_name("src"), p.get_by_name("sink")
    p.set_state(Gst.State.PLAYING)
    src.emit("push-buffer", Gst.Buffer.new_wrapped(data))
    src.emit("end-of-stream")
    sample = sink.try_pull_sample(5 * Gst.SECOND)
    p.set_state(Gst.State.NULL)
    g.check(sample is not None, "jpegdec could not decode the snapshot")
    buf = sample.get_buffer()
    ok, info = buf.map(Gst.MapFlags.READ)
    try:
        pixels = bytes(info.data)
    finally:
        buf.unmap(info)
    return max(pixels) - min(pixels)


def snapshot(gw, name, query="", headers=None):
    url = gw.base_url() + "/%s/snapshot.jpg%s" % (name, query)
    return g.http_request("GET", url, headers=headers, timeout=15)


def wait_snapshot(gw, name, headers=None, timeout=30):
    """The first 200 snapshot of a ready path (a 503 "no keyframe yet" is
    allowed while the first GOP arrives)."""
    deadline = time.monotonic() + timeout
    last = None
    for _ in range(int(timeout / 0.3) + 2):
        st, hdrs, body = snapshot(gw, name, headers=headers)
        if st == 200:
            return hdrs, body
        last = (st, body[:200])
        g.check(st == 503 and b"keyframe" in body,
                "GET /%s/snapshot.jpg: %d %r" % (name, st, body[:200]))
        if time.monotonic() > deadline:
            break
        time.sleep(0.3)
    raise g.TestFailure("no snapshot of %s within %d s; last %r"
                        % (name, timeout, last))


def decodes(gw, name):
    return sum(1 for l in gw.log()
               if "path %s: decoding a snapshot" % name in l)


def test(procs):
    cam, url = g.start_camera(procs, args=["--width", "384", "--height",
                                           "216"])
    hevc, hevc_url = g.start_camera(procs, name="camera-h265",
                                    args=["--codec", "h265", "--audio",
                                          "none"])
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\nread-users=alice:s3cret-pw\n"
                  % url)
    gw.write_path("idle", "[path]\nsource=%s\non-demand=true\n" % url)
    gw.write_path("hevc", "[path]\nsource=%s\n" % hevc_url)
    gw.start()
    gw.wait_paths(lambda p: p.get("cam", {}).get("state") == "ready"
                  and p.get("hevc", {}).get("state") == "ready", 40,
                  "cam and hevc ready")

    # H.264, the camera's size.
    hdrs, jpeg = wait_snapshot(gw, "cam", headers=AUTH)
    g.check(hdrs.get("content-type") == "image/jpeg",
            "Content-Type %r" % hdrs.get("content-type"))
    g.check(hdrs.get("cache-control") == "no-store",
            "Cache-Control %r" % hdrs.get("cache-control"))
    size = jpeg_size(jpeg, "cam snapshot")
    g.check(size == (384, 216), "cam snapshot is %dx%d, want 384x216" % size)
    spread = luma_spread(jpeg)
    g.check(spread > 64, "cam snapshot is flat (luma spread %d)" % spread)
    g.log("cam: %d bytes, %dx%d, luma spread %d" % ((len(jpeg),) + size
                                                     + (spread,)))

    # ?width=160 keeps the aspect ratio.
    st, hdrs, small = snapshot(gw, "cam", "?width=160", AUTH)
    g.check(st == 200, "?width=160: %d %r" % (st, small[:200]))
    size = jpeg_size(small, "cam snapshot at width 160")
    g.check(size == (160, 90), "?width=160 gave %dx%d, want 160x90" % size)
    st, _, body = snapshot(gw, "cam", "?width=9", AUTH)
    g.check(st == 400 and b"width" in body, "?width=9: %d %r" % (st, body))

    # Credentials: the path's read users, as its player and WHEP take.
    for what, h in (("no credentials", None), ("wrong password", WRONG)):
        st, hdrs, body = snapshot(gw, "cam", headers=h)
        g.check(st == 401, "%s: %d %r" % (what, st, body[:100]))
        g.check("www-authenticate" in hdrs, "%s: 401 without a challenge"
                % what)

    # The cache: two requests within a second, one decode, the same bytes.
    # Start from a cold entry (the last decode of width 0 is > 1 s old).
    time.sleep(1.2)
    n0 = decodes(gw, "cam")
    t0 = time.monotonic()
    st1, _, a = snapshot(gw, "cam", headers=AUTH)
    st2, _, b = snapshot(gw, "cam", headers=AUTH)
    dt = time.monotonic() - t0
    g.check(st1 == 200 and st2 == 200, "cache: %d, %d" % (st1, st2))
    if dt < 0.9:
        g.check(a == b, "two snapshots %.2f s apart differ" % dt)
        g.check(decodes(gw, "cam") == n0 + 1,
                "two snapshots %.2f s apart made %d decodes, want 1"
                % (dt, decodes(gw, "cam") - n0))
    else:
        g.log("cache: the two requests took %.2f s (busy machine); "
              "same-bytes check skipped for this pair" % dt)
    time.sleep(1.2)
    st, _, c = snapshot(gw, "cam", headers=AUTH)
    g.check(st == 200, "after the cache expired: %d" % st)
    g.check(decodes(gw, "cam") >= n0 + 2,
            "a snapshot after the cached one expired was not decoded again")

    # An idle on-demand path is not started by a snapshot.
    sessions = g.camera_sessions(cam)
    st, _, body = snapshot(gw, "idle")
    g.check(st == 503 and b"idle" in body, "idle path: %d %r" % (st, body))
    g.log("idle path: %d %s" % (st, body.decode().strip()))
    time.sleep(1.0)
    p = gw.paths()["idle"]
    g.check(p["state"] == "idle", "the idle path is now %r" % p["state"])
    g.check(g.camera_sessions(cam) == sessions,
            "the snapshot of an idle path opened an RTSP session")

    # H.265 (avdec_h265).
    hdrs, jpeg = wait_snapshot(gw, "hevc")
    size = jpeg_size(jpeg, "hevc snapshot")
    g.check(size == (320, 240), "hevc snapshot is %dx%d, want 320x240" % size)
    spread = luma_spread(jpeg)
    g.check(spread > 64, "hevc snapshot is flat (luma spread %d)" % spread)
    g.log("hevc: %d bytes, %dx%d" % ((len(jpeg),) + size))

    failed = [l for l in gw.log() if re.search(r"no snapshot", l)]
    g.check(not failed, "failed decodes: %s" % " | ".join(failed[:3]))
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=110)
