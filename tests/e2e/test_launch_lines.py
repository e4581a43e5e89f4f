#!/usr/bin/python3
"""The README's two other gst-launch lines each serve a viewer that decodes.

  gst-launch-1.0 rtspsrc location=rtsp://... ! rtph264depay ! h264parse ! gwsink ...
  gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=320,height=240 \
      ! x264enc tune=zerolatency ! h264parse ! gwsink ...

and an H.265 one, gwsink choosing h265parse by what it is linked to:

  gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=I420,... \
      ! x265enc tune=zerolatency ! h265parse ! gwsink ...

User-visible check: a webrtcbin viewer of each decodes >= N frames of
320x240 in the line's codec (the H.265 viewer offers H.265 and H.264).
"""

import gwtest as g

FRAMES = 30


def serve_and_view(procs, name, upstream, codec="H264"):
    port = g.free_port()
    gw = g.gst_launch(procs, name, "%s ! gwsink %s"
                      % (upstream, g.gwsink_props(port)), port)
    viewer = g.start_gst_viewers(procs, g.whep_url(port),
                                 name=name + "-viewer",
                                 extra=["--h265"] if codec == "H265" else [])
    # x264enc's default keyframe interval is 250 frames (8 s at 30 fps): a
    # viewer may have to wait for the next keyframe unless the sink asks for
    # one, so allow for that.
    stats = g.wait_frames(viewer, FRAMES, 40)
    v = stats["viewers"][0]
    g.log("%s: %d frames %dx%d %s (%s), first frame after %s s"
          % (name, v["frames"], v["width"], v["height"], v["codec"],
             v["profile"], v["first_frame_s"]))
    g.check(v["codec"] == codec, "%s: codec %r, want %s"
            % (name, v["codec"], codec))
    g.check(gw.alive(), "%s exited" % name)
    viewer.stop()
    rc, clean = gw.stop()
    if not clean:
        g.log("NOTE: %s did not exit within 5 s of SIGINT" % name)


def test(procs):
    cam, url = g.start_camera(procs)
    serve_and_view(procs, "rtspsrc-line",
                   "rtspsrc location=%s ! rtph264depay ! h264parse" % url)
    serve_and_view(procs, "videotestsrc-line",
                   "videotestsrc is-live=true ! video/x-raw,width=320,"
                   "height=240 ! x264enc tune=zerolatency ! h264parse")
    serve_and_view(procs, "h265-line",
                   "videotestsrc is-live=true ! video/x-raw,format=I420,"
                   "width=320,height=240 ! x265enc tune=zerolatency "
                   "speed-preset=ultrafast key-int-max=30 ! h265parse",
                   codec="H265")


if __name__ == "__main__":
    g.run_test(test, timeout=130)
