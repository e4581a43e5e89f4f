#!/usr/bin/python3
"""A WHEP viewer built on webrtcbin: what a user would see, measured.

Each viewer makes a recvonly H.264 (and optionally audio) offer, waits until
ICE gathering is complete, POSTs it to the WHEP URL (Content-Type
application/sdp), applies the 201 answer and decodes what arrives:
rtph264depay ! h264parse ! avdec_h264 ! fakesink. With --h265 the offer
lists H.265 (profile-id=1, Main) before H.264, and H.265 is decoded with
rtph265depay ! h265parse ! avdec_h265. Decoded frames are counted
at the decoder's output (corrupt frames are not output), with the size from
the decoder's caps, the codec from the RTP caps and the profile from the
parser's caps.

Several viewers run in one process (--count), each with its own pipeline;
with --decode N only the first N decode video, the others count its RTP
packets (cheap enough for 50 viewers in one process).
Every 0.5 s the process prints one line:

  STATS {"viewers": [{"id": 0, "frames": 42, "width": 320, ...}, ...]}

It never reconnects by itself (a test relies on that: the same connection
must resume after an upstream drop). On SIGTERM/SIGINT or after --duration
seconds it DELETEs its WHEP sessions and exits 0.

With --ws it speaks the gateway's websocket protocol (docs/websocket.md)
instead, on --url ws://HOST:PORT/NAME/ws: it waits for the server's offer,
answers it (recvonly, whatever media the offer has), trickles candidates
both ways and decodes as above; "ws_close" in its stats is the close code
the server closed the socket with (null while open). On exit it sends
{"type":"close"}.
"""

import argparse
import base64
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

# What Chromium offers for H.264 here, in its order (packetization-mode 1).
DEFAULT_PROFILES = "42001f,42e01f,4d001f"
GATHER_TIMEOUT_S = 5


from gwtest import http_request  # noqa: E402  (the tests' one HTTP client)

WS_IO_TIMEOUT_S = 10
WS_MAX_FRAME = 1 << 20


class WsLink:
    """A minimal RFC 6455 client for the viewer: text frames, masked, read
    on a thread of its own. `on_message(obj)` and `on_close(code)` are
    called on that thread."""

    def __init__(self, url, on_message, on_close):
        u = urllib.parse.urlsplit(url)
        self.on_message = on_message
        self.on_close = on_close
        self.lock = threading.Lock()    # one writer at a time
        self.s = socket.create_connection((u.hostname, u.port or 80),
                                          timeout=WS_IO_TIMEOUT_S)
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + ("?" + u.query if u.query else "")
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n"
                        % (path, u.netloc, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        if self.status != 101:
            raise OSError("websocket handshake: HTTP %d" % self.status)
        self.s.settimeout(None)
        threading.Thread(target=self._run, daemon=True).start()

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _frame(self):
        while len(self.buf) < 2:
            self._fill()
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7f, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill()
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._fill()
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        if n > WS_MAX_FRAME:
            raise OSError("a %d-byte frame" % n)
        while len(self.buf) < off + n:
            self._fill()
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0f, payload

    def _run(self):
        code = 1006
        try:
            for _ in range(100000):
                op, payload = self._frame()
                if op == 0x8:
                    code = struct.unpack("!H", payload[:2])[0] \
                        if len(payload) >= 2 else 1005
                    break
                if op == 0x9:
                    self._send(0xA, payload)
                elif op == 0x1:
                    self.on_message(json.loads(payload.decode()))
        except (OSError, EOFError, ValueError):
            pass
        self.on_close(code)

    def _send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        with self.lock:
            self.s.sendall(head + mask + data)

    def send(self, obj):
        try:
            self._send(0x1, json.dumps(obj).encode())
        except OSError:
            pass

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()


def enum_nick(v):
    try:
        return v.value_nick
    except AttributeError:
        return str(v)


class Viewer:
    def __init__(self, idx, args):
        self.idx = idx
        self.args = args
        self.posts = 0
        self.http_status = None
        self.location = None
        self.error = None
        self.state = "new"
        self.frames = 0
        self.packets = 0
        self.width = 0
        self.height = 0
        self.codec = None
        self.profile = None
        self.audio_codec = None
        self.audio_buffers = 0
        self.first_frame_s = None
        self.t_start = time.monotonic()
        self.deleted = None
        self.ws = None
        self.ws_close = None
        self._posted = False
        self._lock = threading.Lock()  # counters touched by streaming threads

        self.pipe = Gst.Pipeline.new("viewer%d" % idx)
        self.wb = Gst.ElementFactory.make("webrtcbin", "wb%d" % idx)
        if self.wb is None:
            raise RuntimeError("webrtcbin not available")
        self.wb.set_property("bundle-policy",
                             GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        self.pipe.add(self.wb)
        self.wb.connect("pad-added", self._on_pad_added)
        self.wb.connect("notify::ice-gathering-state", self._on_gathering)

        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._on_bus_error)

        if args.ws:
            # The server offers: transceivers come from its offer.
            self.wb.connect("on-ice-candidate", self._on_local_candidate)
            return
        vcaps = []
        if args.h265:
            # What a receiver with a Main decoder offers (RFC 7798).
            vcaps.append(
                "application/x-rtp,media=video,encoding-name=H265,"
                "payload=94,clock-rate=90000,"
                "profile-id=(string)1,tier-flag=(string)0,"
                "level-id=(string)93,tx-mode=(string)SRST,"
                "rtcp-fb-nack=(boolean)true,rtcp-fb-nack-pli=(boolean)true,"
                "rtcp-fb-ccm-fir=(boolean)true")
        pt = 96
        for prof in [p for p in args.h264_profiles.split(",") if p.strip()]:
            vcaps.append(
                "application/x-rtp,media=video,encoding-name=H264,"
                "payload=%d,clock-rate=90000,"
                "packetization-mode=(string)1,"
                "profile-level-id=(string)%s,"
                "level-asymmetry-allowed=(string)1,"
                "rtcp-fb-nack=(boolean)true,rtcp-fb-nack-pli=(boolean)true,"
                "rtcp-fb-ccm-fir=(boolean)true" % (pt, prof.strip()))
            pt += 2
        self.wb.emit("add-transceiver",
                     GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY,
                     Gst.Caps.from_string(";".join(vcaps)))
        if args.audio:
            acaps = ("application/x-rtp,media=audio,encoding-name=OPUS,"
                     "payload=111,clock-rate=48000,encoding-params=(string)2;"
                     "application/x-rtp,media=audio,encoding-name=PCMU,"
                     "payload=0,clock-rate=8000")
            self.wb.emit("add-transceiver",
                         GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY,
                         Gst.Caps.from_string(acaps))

    # -- lifecycle (main thread) ------------------------------------------

    def start(self):
        if self.pipe.set_state(Gst.State.PLAYING) == \
                Gst.StateChangeReturn.FAILURE:
            self._fail("viewer pipeline does not start")
            return
        if self.args.ws:
            self.state = "connecting"
            try:
                self.ws = WsLink(self.args.url, self._on_ws_message,
                                 self._on_ws_close)
            except (OSError, EOFError, ValueError) as e:
                self._fail("websocket %s: %s" % (self.args.url, e))
                return
            self.http_status = self.ws.status
            self.state = "waiting for the offer"
            return
        self.state = "offering"
        promise = Gst.Promise.new_with_change_func(self._on_offer_created)
        self.wb.emit("create-offer", None, promise)

    def stop(self):
        if self.ws is not None:
            if self.ws_close is None:
                self.ws.send({"type": "close"})
            self.ws.close()
        if self.location:
            try:
                st, _, _ = http_request("DELETE", self.location, timeout=3)
                self.deleted = st
            except OSError as e:
                self.deleted = "error: %s" % e
        self.pipe.set_state(Gst.State.NULL)
        self.pipe.get_bus().remove_signal_watch()

    def _fail(self, msg):
        if self.error is None:
            self.error = msg
            print("ERROR viewer %d: %s" % (self.idx, msg), flush=True)
        self.state = "failed"

    # -- negotiation -------------------------------------------------------

    def _on_offer_created(self, promise):  # webrtcbin thread
        promise.wait()
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply else None
        if offer is None:
            GLib.idle_add(self._fail, "create-offer failed: %s" % reply)
            return
        self.wb.emit("set-local-description", offer, None)
        GLib.idle_add(self._after_local_description)

    def _after_local_description(self):
        self.state = "gathering"
        GLib.timeout_add_seconds(GATHER_TIMEOUT_S, self._gather_timeout)
        self._maybe_post()
        return False

    def _on_gathering(self, wb, pspec):  # any thread
        GLib.idle_add(self._maybe_post)

    def _gather_timeout(self):
        if not self._posted:
            print("NOTE viewer %d: ICE gathering not complete after %d s, "
                  "posting what we have" % (self.idx, GATHER_TIMEOUT_S),
                  flush=True)
            self._post()
        return False

    def _maybe_post(self):
        if self._posted or self.state != "gathering":
            return False
        gs = self.wb.get_property("ice-gathering-state")
        if gs == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            self._post()
        return False

    def _post(self):
        if self._posted:
            return
        self._posted = True
        self.posts += 1
        self.state = "posting"
        sdp = self.wb.get_property("local-description").sdp.as_text()
        threading.Thread(target=self._post_thread, args=(sdp,),
                         daemon=True).start()

    def _post_thread(self, sdp):
        # gwsink answers 503 "no stream is linked" until its pipeline runs
        # (slow under sanitizers): retry that one, as a player page would.
        for attempt in range(20):
            try:
                st, hdrs, body = http_request(
                    "POST", self.args.url, body=sdp.encode(),
                    headers={"Content-Type": "application/sdp",
                             "Accept": "application/sdp"}, timeout=15)
            except OSError as e:
                GLib.idle_add(self._fail, "POST %s: %s" % (self.args.url, e))
                return
            if st != 503 or b"no stream is linked" not in body:
                break
            time.sleep(0.5)
        GLib.idle_add(self._on_answer, st, hdrs, body)

    def _on_answer(self, st, hdrs, body):
        self.http_status = st
        if st != 201:
            self._fail("POST returned %d: %s" % (st, body[:300]))
            return False
        ctype = hdrs.get("content-type", "")
        if not ctype.startswith("application/sdp"):
            self._fail("answer Content-Type is %r" % ctype)
            return False
        loc = hdrs.get("location")
        if loc:
            self.location = urllib.parse.urljoin(self.args.url, loc)
        else:
            self._fail("201 without Location")
        res, msg = GstSdp.SDPMessage.new_from_text(body.decode())
        if res != GstSdp.SDPResult.OK:
            self._fail("unparsable answer SDP")
            return False
        answer = GstWebRTC.WebRTCSessionDescription.new(
            GstWebRTC.WebRTCSDPType.ANSWER, msg)
        promise = Gst.Promise.new_with_change_func(self._on_remote_set)
        self.wb.emit("set-remote-description", answer, promise)
        return False

    def _on_remote_set(self, promise):  # webrtcbin thread
        promise.wait()
        reply = promise.get_reply()
        if reply is not None and reply.has_field("error"):
            GLib.idle_add(self._fail, "set-remote-description: %s"
                          % reply.get_value("error"))
            return
        GLib.idle_add(self._set_state, "negotiated")

    def _set_state(self, st):
        if self.state != "failed":
            self.state = st
        return False

    # -- websocket signalling (server offers) ------------------------------

    def _on_ws_message(self, m):  # websocket thread
        t = m.get("type")
        if t == "offer":
            GLib.idle_add(self._on_ws_offer, m.get("sdp", ""))
        elif t == "candidate":
            cand = m.get("candidate", "")
            if cand:
                self.wb.emit("add-ice-candidate", int(m.get("mline", 0)), cand)
        elif t == "error":
            GLib.idle_add(self._fail, "server error %s: %s"
                          % (m.get("status"), m.get("reason")))

    def _on_ws_close(self, code):  # websocket thread
        self.ws_close = code
        print("NOTE viewer %d: websocket closed with %d" % (self.idx, code),
              flush=True)

    def _on_ws_offer(self, sdp):
        self.posts += 1
        res, msg = GstSdp.SDPMessage.new_from_text(sdp)
        if res != GstSdp.SDPResult.OK:
            self._fail("unparsable offer SDP")
            return False
        offer = GstWebRTC.WebRTCSessionDescription.new(
            GstWebRTC.WebRTCSDPType.OFFER, msg)
        promise = Gst.Promise.new_with_change_func(self._on_ws_offer_set)
        self.wb.emit("set-remote-description", offer, promise)
        return False

    def _on_ws_offer_set(self, promise):  # webrtcbin thread
        promise.wait()
        reply = promise.get_reply()
        if reply is not None and reply.has_field("error"):
            GLib.idle_add(self._fail, "set-remote-description: %s"
                          % reply.get_value("error"))
            return
        p = Gst.Promise.new_with_change_func(self._on_ws_answer_created)
        self.wb.emit("create-answer", None, p)

    def _on_ws_answer_created(self, promise):  # webrtcbin thread
        promise.wait()
        reply = promise.get_reply()
        answer = reply.get_value("answer") if reply else None
        if answer is None:
            GLib.idle_add(self._fail, "create-answer failed: %s" % reply)
            return
        self.wb.emit("set-local-description", answer, None)
        self.ws.send({"type": "answer", "sdp": answer.sdp.as_text()})
        GLib.idle_add(self._set_state, "negotiated")

    def _on_local_candidate(self, wb, mline, cand):  # webrtcbin thread
        if self.ws is not None:
            self.ws.send({"type": "candidate", "mline": mline,
                          "candidate": cand})

    # -- media ------------------------------------------------------------

    def _on_pad_added(self, wb, pad):  # streaming thread
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        s = caps.get_structure(0)
        enc = (s.get_string("encoding-name") or "").upper()
        media = s.get_string("media")
        if media == "video" and enc in ("H264", "H265") and \
                self.args.decode >= 0 and self.idx >= self.args.decode:
            # Connected and counting RTP packets, but not decoding (many
            # viewers in one process, a few of them decoding).
            self.codec = enc
            desc = "fakesink name=depay sync=false async=false"
        elif media == "video" and enc in ("H264", "H265"):
            self.codec = enc
            c = enc.lower()
            desc = ("rtp%sdepay name=depay ! %sparse name=parse ! "
                    "avdec_%s name=dec output-corrupt=false max-threads=1 "
                    "! fakesink sync=false async=false" % (c, c, c))
        elif media == "audio" and enc == "OPUS":
            self.audio_codec = "OPUS"
            desc = ("rtpopusdepay name=depay ! opusdec name=dec ! "
                    "fakesink sync=false async=false")
        elif media == "audio" and enc == "PCMU":
            self.audio_codec = "PCMU"
            desc = ("rtppcmudepay name=depay ! mulawdec name=dec ! "
                    "fakesink sync=false async=false")
        else:
            if media == "video":
                self.codec = enc
            else:
                self.audio_codec = enc
            desc = "fakesink sync=false async=false name=depay"
        b = Gst.parse_bin_from_description(desc, True)
        depay = b.get_by_name("depay")
        depay.get_static_pad("sink").add_probe(
            Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST,
            self._on_rtp, media)
        dec = b.get_by_name("dec")
        if dec is not None:
            dec.get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM,
                self._on_decoded, media)
        parse = b.get_by_name("parse")
        if parse is not None:
            parse.get_static_pad("src").add_probe(
                Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_parsed_caps,
                None)
        self.pipe.add(b)
        b.sync_state_with_parent()
        if pad.link(b.get_static_pad("sink")) != Gst.PadLinkReturn.OK:
            GLib.idle_add(self._fail, "cannot link %s pad" % enc)

    def _on_rtp(self, pad, info, media):
        if media == "video":
            n = 1
            if info.type & Gst.PadProbeType.BUFFER_LIST:
                n = info.get_buffer_list().length()
            with self._lock:
                self.packets += n
        return Gst.PadProbeReturn.OK

    def _on_decoded(self, pad, info, media):
        if info.type & Gst.PadProbeType.BUFFER:
            with self._lock:
                if media == "video":
                    self.frames += 1
                    if self.first_frame_s is None:
                        self.first_frame_s = round(
                            time.monotonic() - self.t_start, 3)
                else:
                    self.audio_buffers += 1
        else:
            ev = info.get_event()
            if ev.type == Gst.EventType.CAPS and media == "video":
                s = ev.parse_caps().get_structure(0)
                ok_w, w = s.get_int("width")
                ok_h, h = s.get_int("height")
                with self._lock:
                    if ok_w:
                        self.width = w
                    if ok_h:
                        self.height = h
        return Gst.PadProbeReturn.OK

    def _on_parsed_caps(self, pad, info, _):
        ev = info.get_event()
        if ev.type == Gst.EventType.CAPS:
            s = ev.parse_caps().get_structure(0)
            prof = s.get_string("profile")
            if prof:
                self.profile = prof
        return Gst.PadProbeReturn.OK

    def _on_bus_error(self, bus, msg):
        err, dbg = msg.parse_error()
        self._fail("%s: %s (%s)" % (msg.src.get_name(), err.message, dbg))

    # -- report -----------------------------------------------------------

    def stats(self):
        try:
            pc = enum_nick(self.wb.get_property("connection-state"))
            ice = enum_nick(self.wb.get_property("ice-connection-state"))
        except Exception:  # pylint: disable=broad-except
            pc = ice = None
        with self._lock:
            return {
                "id": self.idx, "state": self.state, "pc": pc, "ice": ice,
                "posts": self.posts, "http_status": self.http_status,
                "location": self.location, "frames": self.frames,
                "packets": self.packets, "width": self.width,
                "height": self.height, "codec": self.codec,
                "profile": self.profile, "audio_codec": self.audio_codec,
                "audio_buffers": self.audio_buffers,
                "first_frame_s": self.first_frame_s, "error": self.error,
                "deleted": self.deleted, "ws_close": self.ws_close,
            }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True,
                    help="WHEP endpoint URL (with --ws: ws://HOST:PORT/NAME/ws)")
    ap.add_argument("--ws", action="store_true",
                    help="the websocket protocol (the server offers) "
                    "instead of WHEP")
    ap.add_argument("--count", type=int, default=1, help="viewers")
    ap.add_argument("--audio", action="store_true",
                    help="also offer a recvonly audio m-line (Opus, PCMU)")
    ap.add_argument("--duration", type=float, default=120,
                    help="exit after this many seconds")
    ap.add_argument("--h264-profiles", default=DEFAULT_PROFILES,
                    help="profile-level-ids to offer, in order (empty: "
                    "no H.264)")
    ap.add_argument("--h265", action="store_true",
                    help="offer H.265 Main before H.264, decode it with "
                    "avdec_h265")
    ap.add_argument("--decode", type=int, default=-1,
                    help="only the first N viewers decode video; the others "
                    "count RTP packets (default: all decode)")
    ap.add_argument("--stagger", type=float, default=0.0,
                    help="seconds between viewer starts")
    args = ap.parse_args()
    if args.count < 1 or args.count > 64:
        ap.error("--count must be 1..64")

    Gst.init(None)
    # pygobject builds enum and flags classes lazily, and not thread-safely:
    # a streaming thread that touches one first while another thread does
    # can find it half built ("type object 'PadProbeType' has no attribute
    # 'BUFFER'"). Build the ones the streaming-thread callbacks use here.
    for flags in (Gst.PadProbeType, Gst.PadProbeReturn, Gst.EventType, Gst.PadDirection,
                  Gst.PadLinkReturn):
        dir(flags)
    _ = (Gst.PadProbeType.BUFFER, Gst.PadProbeType.BUFFER_LIST,
         Gst.PadProbeType.EVENT_DOWNSTREAM, Gst.PadProbeReturn.OK, Gst.EventType.CAPS,
         Gst.PadDirection.SRC, Gst.PadLinkReturn.OK)
    loop = GLib.MainLoop()
    viewers = [Viewer(i, args) for i in range(args.count)]

    for i, v in enumerate(viewers):
        if args.stagger > 0 and i > 0:
            GLib.timeout_add(int(args.stagger * 1000 * i),
                             lambda v=v: (v.start(), False)[1])
        else:
            v.start()

    def print_stats():
        print("STATS " + json.dumps({"viewers": [v.stats() for v in viewers]}),
              flush=True)
        return True

    def quit_():
        loop.quit()
        return False

    GLib.timeout_add(500, print_stats)
    GLib.timeout_add(int(args.duration * 1000), quit_)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, quit_)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, quit_)
    loop.run()

    for v in viewers:
        v.stop()
    print_stats()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
