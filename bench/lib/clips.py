"""Pre-encoded clips for the benchmark camera, made once and cached.

Each clip is Matroska: H.264 High profile without B-frames at a constant
bit rate, an IDR every GOP seconds (scene-cut detection off, so no extra
keyframes), and Opus 48 kHz stereo in 20 ms packets. The picture is a moving
SMPTE pattern with 12 % noise on top, so the encoder really spends its bits.

The cache lives outside git: $GW_BENCH_CACHE, else ~/.cache/gw-bench. The
file name holds every parameter, so changing one makes a new clip.
"""

import os
import subprocess
import time

FULL = {"width": 1920, "height": 1080, "fps": 30, "kbps": 4000, "seconds": 20}
# QUICK=1 (CI smoke test): small and short, to encode in about a second.
QUICK = {"width": 640, "height": 360, "fps": 30, "kbps": 1000, "seconds": 4}


def cache_dir():
    d = os.environ.get("GW_BENCH_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "gw-bench")
    os.makedirs(d, exist_ok=True)
    return d


def clip_name(p, gop_s):
    return "clip_%dx%d_%dfps_%dk_gop%ds_%ds.mkv" % (
        p["width"], p["height"], p["fps"], p["kbps"], gop_s, p["seconds"])


def launch_line(p, gop_s, out):
    w, h, fps = p["width"], p["height"], p["fps"]
    frames = p["seconds"] * fps
    raw = "video/x-raw,width=%d,height=%d,framerate=%d/1" % (w, h, fps)
    return [
        "gst-launch-1.0", "-q", "-e",
        "compositor", "name=mix", "background=black", "sink_1::alpha=0.12",
        "!", "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1" % (w, h, fps),
        "!", "x264enc", "bitrate=%d" % p["kbps"], "key-int-max=%d" % (gop_s * fps),
        "bframes=0", "speed-preset=veryfast", "option-string=scenecut=0",
        "!", "video/x-h264,profile=high", "!", "h264parse", "!", "queue", "!", "mux.",
        "videotestsrc", "num-buffers=%d" % frames, "pattern=smpte",
        "horizontal-speed=6", "!", raw, "!", "mix.sink_0",
        "videotestsrc", "num-buffers=%d" % frames, "pattern=snow", "!", raw,
        "!", "mix.sink_1",
        "audiotestsrc", "num-buffers=%d" % (p["seconds"] * 50),
        "samplesperbuffer=960", "wave=ticks",
        "!", "audio/x-raw,rate=48000,channels=2",
        "!", "opusenc", "bitrate=64000", "frame-size=20", "!", "queue", "!", "mux.",
        "matroskamux", "name=mux", "!", "filesink", "location=" + out,
    ]


def ensure_clip(gop_s, quick=False, log=print):
    """Path of the clip with a GOP of gop_s seconds, encoding it if needed."""
    p = QUICK if quick else FULL
    path = os.path.join(cache_dir(), clip_name(p, gop_s))
    if os.path.exists(path) and os.path.getsize(path) > 0:
        return path
    tmp = path + ".part"
    log("making clip %s (once; cached)" % path)
    t0 = time.monotonic()
    r = subprocess.run(launch_line(p, gop_s, tmp), capture_output=True,
                       text=True, timeout=900)
    if r.returncode != 0 or not os.path.exists(tmp):
        raise RuntimeError("clip encoding failed: %s" % (r.stderr or r.stdout)[-2000:])
    os.replace(tmp, path)
    mbit = os.path.getsize(path) * 8 / p["seconds"] / 1e6
    log("clip made in %.0f s, %.2f Mbit/s" % (time.monotonic() - t0, mbit))
    return path


def clip_params(quick=False):
    return dict(QUICK if quick else FULL)
