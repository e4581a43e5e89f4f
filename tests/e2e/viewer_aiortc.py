#!/usr/bin/python3
"""A WHEP viewer built on aiortc, an independent WebRTC implementation.

Makes a recvonly video (and optionally audio) offer, POSTs it to the WHEP URL
(Content-Type application/sdp), applies the 201 answer and decodes the video
track (aiortc decodes H.264 itself, through PyAV). Every 0.5 s it prints

  STATS {"viewers": [{"id": 0, "frames": 42, "width": 320, ...}]}

with the same fields as viewer_gst.py where they apply. It never
reconnects. On SIGTERM/SIGINT or after --duration seconds it DELETEs its
WHEP session and exits 0.
"""

import argparse
import asyncio
import json
import re
import signal
import sys
import time
import urllib.parse

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError


from gwtest import http_request  # noqa: E402  (the tests' one HTTP client)


def negotiated_codec(sdp, kind):
    """Encoding name of the first payload type of the first m=<kind> line."""
    lines = sdp.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("m=%s " % kind):
            fields = line.split()
            if len(fields) < 4 or fields[1] == "0":
                return None
            pt = fields[3]
            for l2 in lines[i + 1:]:
                if l2.startswith("m="):
                    break
                m = re.match(r"a=rtpmap:%s ([^/]+)/" % re.escape(pt), l2)
                if m:
                    return m.group(1).upper()
            return None
    return None


class Viewer:
    def __init__(self, args):
        self.args = args
        self.pc = RTCPeerConnection()
        self.stats = {
            "id": 0, "state": "new", "pc": "new", "ice": "new", "posts": 0,
            "http_status": None, "location": None, "frames": 0,
            "packets": None, "width": 0, "height": 0, "codec": None,
            "profile": None, "audio_codec": None, "audio_buffers": 0,
            "first_frame_s": None, "error": None, "deleted": None,
        }
        self.t_start = time.monotonic()
        self.tasks = []

        @self.pc.on("connectionstatechange")
        def _on_conn():
            self.stats["pc"] = self.pc.connectionState

        @self.pc.on("iceconnectionstatechange")
        def _on_ice():
            self.stats["ice"] = self.pc.iceConnectionState

        @self.pc.on("track")
        def _on_track(track):
            self.tasks.append(asyncio.ensure_future(self.consume(track)))

    def fail(self, msg):
        if self.stats["error"] is None:
            self.stats["error"] = msg
            print("ERROR viewer 0: %s" % msg, flush=True)
        self.stats["state"] = "failed"

    async def consume(self, track):
        kind = track.kind
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if kind == "video":
                self.stats["frames"] += 1
                self.stats["width"] = frame.width
                self.stats["height"] = frame.height
                if self.stats["first_frame_s"] is None:
                    self.stats["first_frame_s"] = round(
                        time.monotonic() - self.t_start, 3)
            else:
                self.stats["audio_buffers"] += 1

    async def start(self):
        loop = asyncio.get_running_loop()
        self.pc.addTransceiver("video", direction="recvonly")
        if self.args.audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        # aiortc gathers every candidate inside setLocalDescription.
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = self.pc.localDescription.sdp
        self.stats["state"] = "posting"
        self.stats["posts"] += 1
        # gwsink answers 503 "no stream is linked" until its pipeline runs
        # (slow under sanitizers): retry that one, as a player page would.
        for attempt in range(20):
            try:
                st, hdrs, body = await loop.run_in_executor(
                    None, lambda: http_request(
                        "POST", self.args.url, body=offer.encode(),
                        headers={"Content-Type": "application/sdp",
                                 "Accept": "application/sdp"}, timeout=15))
            except OSError as e:
                self.fail("POST %s: %s" % (self.args.url, e))
                return
            if st != 503 or b"no stream is linked" not in body:
                break
            await asyncio.sleep(0.5)
        self.stats["http_status"] = st
        if st != 201:
            self.fail("POST returned %d: %r" % (st, body[:300]))
            return
        ctype = hdrs.get("content-type", "")
        if not ctype.startswith("application/sdp"):
            self.fail("answer Content-Type is %r" % ctype)
            return
        if hdrs.get("location"):
            self.stats["location"] = urllib.parse.urljoin(
                self.args.url, hdrs["location"])
        else:
            self.fail("201 without Location")
        answer = body.decode()
        self.stats["codec"] = negotiated_codec(answer, "video")
        if self.args.audio:
            self.stats["audio_codec"] = negotiated_codec(answer, "audio")
        try:
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=answer, type="answer"))
        except Exception as e:  # pylint: disable=broad-except
            self.fail("setRemoteDescription: %s" % e)
            return
        self.stats["state"] = "negotiated"

    async def stop(self):
        loc = self.stats["location"]
        if loc:
            loop = asyncio.get_running_loop()
            try:
                st, _, _ = await loop.run_in_executor(
                    None, lambda: http_request("DELETE", loc, timeout=3))
                self.stats["deleted"] = st
            except OSError as e:
                self.stats["deleted"] = "error: %s" % e
        for t in self.tasks:
            t.cancel()
        await asyncio.wait_for(self.pc.close(), 5)


def print_stats(v):
    print("STATS " + json.dumps({"viewers": [v.stats]}), flush=True)


async def amain(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.call_later(args.duration, stop.set)

    v = Viewer(args)
    start = asyncio.ensure_future(v.start())
    while not stop.is_set():
        print_stats(v)
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
    if not start.done():
        start.cancel()
    elif start.exception() is not None:
        v.fail("start: %r" % start.exception())
    try:
        await v.stop()
    except Exception as e:  # pylint: disable=broad-except
        print("NOTE: stop: %r" % e, flush=True)
    print_stats(v)
    print("DONE", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="WHEP endpoint URL")
    ap.add_argument("--audio", action="store_true",
                    help="also offer a recvonly audio m-line")
    ap.add_argument("--duration", type=float, default=120,
                    help="exit after this many seconds")
    args = ap.parse_args()
    asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
