#!/usr/bin/python3
"""A stream a viewer cannot decode is never dropped silently.

The source has H.264 video and PCMA audio; the viewers' offers take H.264
but no PCMA, or nothing of the source at all.

User-visible checks, through the gateway server and through gwsink (both
run the same signalling code):
  - a webrtcbin viewer offering H.264 + Opus/PCMU gets 201, decodes >= N
    frames of 320x240, gets no audio, and the log has a WARN line naming the
    dropped track (audio_0, PCMA) and the codecs the offer takes instead;
  - an offer of VP8 video and Opus audio gets 406 whose body names the
    source's codecs (H.264, PCMA) and the offer's (VP8/90000, OPUS/48000).
"""

import re
import time

import gwtest as g
import test_gateway_lib as gl

FRAMES = 30

AUDIO = ("audiotestsrc is-live=true wave=sine"
         " ! audio/x-raw,rate=8000,channels=1 ! alawenc")
SOURCE = gl.testsrc_pipeline() + " " + AUDIO

WARN_DROP = (r"WARN.*audio_0 \(audio PCMA\) is not sent: .*OPUS/48000"
             r".*PCMU/8000")

# VP8 video and Opus audio only. Refused before any ICE work, so no real
# agent stands behind these credentials.
VP8_OPUS_OFFER = "\r\n".join([
    "v=0",
    "o=- 1 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:gwE2",
    "a=ice-pwd:gwe2eTestPasswordOf24Chr",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
    "a=setup:actpass",
    "a=mid:0",
    "a=recvonly",
    "a=rtcp-mux",
    "a=rtpmap:96 VP8/90000",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:gwE2",
    "a=ice-pwd:gwe2eTestPasswordOf24Chr",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
    "a=setup:actpass",
    "a=mid:1",
    "a=recvonly",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "",
])


def check_viewer(viewer, what):
    stats = g.wait_frames(viewer, FRAMES, 45)
    v = stats["viewers"][0]
    g.log("%s: HTTP %s, %d frames %dx%d %s, audio %s (%d buffers)"
          % (what, v["http_status"], v["frames"], v["width"], v["height"],
             v["codec"], v["audio_codec"], v["audio_buffers"]))
    g.check(v["http_status"] == 201, "%s: POST got %s" % (what, v["http_status"]))
    g.check(v["codec"] == "H264", "%s: video codec %r" % (what, v["codec"]))
    g.check(v["audio_buffers"] == 0,
            "%s: decoded audio it cannot have been sent" % what)


def check_refusal(status, body, what):
    g.log("%s: VP8+Opus offer: %d %r" % (what, status, body))
    g.check(status == 406, "%s: VP8+Opus offer got %d (want 406)"
            % (what, status))
    for word in ("H.264", "PCMA", "VP8/90000", "OPUS/48000"):
        g.check(word in body, "%s: the 406 body does not name %s: %r"
                % (what, word, body))


def wait_stderr(proc, pattern, timeout, what):
    rx = re.compile(pattern)
    for _ in range(int(timeout / 0.2) + 2):
        for line in proc.stderr_lines():
            if rx.search(line):
                return line
        if not proc.alive():
            break
        time.sleep(0.2)
    raise g.TestFailure("%s: no log line matching %r" % (what, pattern))


def test(procs):
    # The gateway server.
    gw = gl.Gateway(procs)
    gw.write_path("cam", "[path]\npipeline=%s\n" % SOURCE)
    gw.start()
    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"), audio=True,
                                 name="viewer-gateway")
    check_viewer(viewer, "gateway")
    try:
        _, line = gw.wait_log(WARN_DROP, 10)
    except g.TestFailure:
        g.log("the gateway's log:\n" + "\n".join(gw.log()[-60:]))
        raise
    g.log("gateway logged: %s" % line.strip())
    viewer.stop()
    st, _, body, _ = gw.post_offer("cam", VP8_OPUS_OFFER, timeout=20)
    check_refusal(st, body, "gateway")
    gw.stop_and_check()

    # gwsink, from gst-launch-1.0 (GST_DEBUG has WARN in the test env).
    port = g.free_port()
    sink = g.gst_launch(procs, "gwsink",
                        "%s ! sink.video_0 %s ! sink.audio_0 gwsink name=sink %s"
                        % (gl.testsrc_pipeline(), AUDIO, g.gwsink_props(port)),
                        port)
    viewer = g.start_gst_viewers(procs, g.whep_url(port), audio=True,
                                 name="viewer-gwsink")
    check_viewer(viewer, "gwsink")
    line = wait_stderr(sink, WARN_DROP, 10, "gwsink")
    g.log("gwsink logged: %s" % line.strip())
    viewer.stop()
    st, _, body = g.http_request(
        "POST", g.whep_url(port), body=VP8_OPUS_OFFER,
        headers={"Content-Type": "application/sdp"}, timeout=20)
    check_refusal(st, body.decode("utf-8", "replace"), "gwsink")
    g.check(sink.alive(), "gst-launch exited")


if __name__ == "__main__":
    g.run_test(test, timeout=150)
