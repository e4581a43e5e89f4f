#!/usr/bin/python3
"""H.265 passes through untouched to viewers that offer it.

An H.265 RTSP camera (gw-test-camera --codec h265: x265, Main, 320x240) is
served by the gateway as one path, and an H.265 pipeline= source (x265enc,
Main, 352x288) as another. User-visible checks:
- two webrtcbin viewers offering H.265 Main and H.264 get H.265 (the
  camera's own codec, profile main) from the path's shared sender and
  decode fluid 320x240 video with avdec_h265; the camera has exactly one
  RTSP session for both;
- a viewer of the pipeline= path decodes H.265 at 352x288;
- an offer with only H.264 is refused with 406 (no transcoding yet);
- SIGTERM: the gateway exits 0, having logged no CRITICAL.
"""

import gwtest as g
import test_gateway_lib as gl

FRAMES = 30
VIEWERS = 2


def check_h265(stats, width, height, what):
    for v in stats["viewers"]:
        g.check(v["http_status"] == 201,
                "%s viewer %d: POST status %s" % (what, v["id"],
                                                  v["http_status"]))
        g.check(v["codec"] == "H265",
                "%s viewer %d received %r, not H265" % (what, v["id"],
                                                        v["codec"]))
        g.check(v["profile"] == "main",
                "%s viewer %d: stream profile %r, not the source's main"
                % (what, v["id"], v["profile"]))
        g.check(v["width"] == width and v["height"] == height,
                "%s viewer %d decodes %dx%d" % (what, v["id"], v["width"],
                                                v["height"]))
    g.log("%s: %s" % (what, ", ".join(
        "%s %d frames %dx%d (%s)" % (v["codec"], v["frames"], v["width"],
                                     v["height"], v["profile"])
        for v in stats["viewers"])))


def test(procs):
    cam, url = g.start_camera(procs, args=["--codec", "h265", "--audio",
                                           "none"])
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\nsource=%s\n" % url)
    gw.write_path("pipe", "[path]\npipeline=videotestsrc is-live=true ! "
                  "video/x-raw,format=I420,width=352,height=288,"
                  "framerate=15/1 ! x265enc tune=zerolatency "
                  "speed-preset=ultrafast key-int-max=15 ! h265parse\n")
    gw.start()

    viewers = g.start_gst_viewers(procs, gw.whep_url("cam"), count=VIEWERS,
                                  extra=["--h265", "--stagger", "0.5"])
    stats = g.wait_frames(viewers, FRAMES, 45)
    check_h265(stats, 320, 240, "camera")
    g.check(g.camera_sessions(cam) == 1,
            "%d RTSP sessions at the camera for %d viewers (want 1)"
            % (g.camera_sessions(cam), VIEWERS))
    # What they decoded came from the path's shared sender (its RFC 7798
    # packets), not from a per-viewer rtph265pay.
    shared = [l for l in gw.log()
              if "sent by the shared sender" in l and "video_0" in l]
    g.check(len(shared) >= VIEWERS,
            "%d of %d H.265 viewers were sent to by the shared sender: %s"
            % (len(shared), VIEWERS, shared))

    pipe = g.start_gst_viewers(procs, gw.whep_url("pipe"), name="pipe-viewer",
                               extra=["--h265"])
    stats = g.wait_frames(pipe, FRAMES, 45, width=352, height=288)
    check_h265(stats, 352, 288, "pipeline")

    # A viewer without H.265 (a browser's H.264-only offer): nothing it can
    # decode, refused as before (transcoding is not there yet).
    st, _, body, _ = gw.post_offer("cam")
    g.check(st == 406, "an H.264-only offer for an H.265 path got %d %s, "
            "want 406" % (st, body[:200]))
    g.log("H.264-only offer: %d %s" % (st, body.strip()[:200]))
    g.check(g.camera_sessions(cam) == 1,
            "the camera got %d RTSP sessions" % g.camera_sessions(cam))

    pipe.stop()
    viewers.stop()
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=150)
