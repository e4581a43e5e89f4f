"""Residence latency of video frames in the gateway, from a pcap.

The capture (tcpdump -i any -s 128; of each packet only its incoming copy
is used) holds the camera's RTP going to the
gateway and the SRTP the gateway sends to some viewers. SRTP leaves the RTP
header in clear (SSRC, sequence, timestamp, marker), so on both sides a
frame is a group of packets with one RTP timestamp, ended by the marker bit,
and its time is the capture time of that last packet.

Frames are matched by their sizes: the gateway does not re-encode, so a
frame carries the same H.264 bytes on both sides, but it is re-packetized
(another MTU, FU-A headers of 2 bytes per fragment) and SRTP adds a 10-byte
authentication tag per packet. Each frame's size is estimated as
payload bytes - 2 * packets (- 10 * packets for SRTP) and compared within a
small tolerance; a viewer frame is paired under the alignment (camera frame
index = viewer frame index + shift) with the most equal sizes that matches
it and a neighbour (a frame the gateway dropped for a slow viewer starts a
new alignment). The noisy test clip gives frames distinct sizes, so the
alignments are unambiguous. Latency of a matched frame =
viewer last-packet time - camera last-packet time.

Also a CLI: latency.py PCAP CAMERA_PORT_MIN CAMERA_PORT_MAX VIEWER_PORT...
"""

import struct
import sys

SRTP_TAG = 10


def read_pcap(path):
    """Yields (time_s, src_ip, sport, dst_ip, dport, udp_payload_len, head)
    for each IPv4/UDP packet; head is the captured part of the payload."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError("%s: not a pcap file" % path)
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        t = sec + frac / (1e9 if nano else 1e6)
        if linktype == 1:  # Ethernet
            if len(pkt) < 14 or pkt[12:14] != b"\x08\x00":
                continue
            ip = pkt[14:]
        elif linktype == 113:  # Linux cooked v1 (tcpdump -i any)
            # "any" sees a veth packet on the way out (v0, packet type 4) and
            # on the way in (v1); on lo only on the way in. Keep the incoming
            # copies: one of each packet, all taken at the same point.
            if len(pkt) < 16 or pkt[14:16] != b"\x08\x00" or pkt[0:2] == b"\x00\x04":
                continue
            ip = pkt[16:]
        elif linktype == 276:  # Linux cooked v2
            if len(pkt) < 20 or pkt[0:2] != b"\x08\x00" or pkt[10] == 4:
                continue
            ip = pkt[20:]
        elif linktype in (12, 101):  # raw IP
            ip = pkt
        elif linktype == 0:  # BSD loopback
            ip = pkt[4:]
        else:
            raise ValueError("unsupported link type %d" % linktype)
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        udp = ip[ihl:]
        if len(udp) < 8:
            continue
        sport, dport, ulen = struct.unpack("!HHH", udp[:6])
        yield (t, ip[12:16], sport, ip[16:20], dport, ulen - 8, udp[8:])


def rtp_header(head, payload_len):
    """(ssrc, pt, marker, seq, ts, header_len) or None (RTCP, too short)."""
    if len(head) < 12 or head[0] >> 6 != 2:
        return None
    if 192 <= head[1] <= 223:  # RTCP (rtcp-mux)
        return None
    cc = head[0] & 15
    hl = 12 + 4 * cc
    if head[0] & 0x10:
        if len(head) < hl + 4:
            return None
        hl += 4 + 4 * struct.unpack("!H", head[hl + 2:hl + 4])[0]
    if hl > payload_len:
        return None
    seq, ts, ssrc = struct.unpack("!HII", head[2:12])
    return ssrc, head[1] & 0x7F, bool(head[1] & 0x80), seq, ts, hl


def frames_of(packets, tag):
    """packets: [(t, seq, ts, marker, payload_bytes)] of one SSRC in capture
    order. Returns complete frames [(t_last, ts, npkts, size_estimate)]: the
    packets of one RTP timestamp up to the marker, starting after the first
    marker so the first (partial) frame is skipped."""
    out = []
    started = False
    cur_ts, n, size = None, 0, 0
    for t, _seq, ts, marker, plen in packets:
        if not started:
            started = marker
            continue
        if ts != cur_ts:
            cur_ts, n, size = ts, 0, 0
        n += 1
        size += plen - tag
        if marker:
            out.append((t, ts, n, size - 2 * n))
            cur_ts = None
    return out


def _match(cam, view, tol_abs=24, tol_rel=0.003):
    """Pairs (camera frame, viewer frame). An alignment is a shift: camera
    index = viewer index + shift. The gateway may drop frames for a slow
    viewer, which changes the shift from then on, so every shift that
    aligns many frames is a candidate, and a viewer frame is paired under
    the best-scoring candidate that matches it and one of its neighbours."""
    def same(i, shift):
        j = i + shift
        if i < 0 or i >= len(view) or j < 0 or j >= len(cam):
            return False
        a, b = cam[j][3], view[i][3]
        return abs(a - b) <= tol_abs + tol_rel * max(a, b)

    scores = {}
    for shift in range(-len(view) + 1, len(cam)):
        score = sum(1 for i in range(max(0, -shift), min(len(view), len(cam) - shift))
                    if same(i, shift))
        if score:
            scores[shift] = score
    if not scores:
        return []
    floor = max(3, 0.1 * max(scores.values()))
    cands = sorted((s for s, v in scores.items() if v >= floor),
                   key=lambda s: -scores[s])
    pairs = []
    for i in range(len(view)):
        for shift in cands:
            if same(i, shift) and (same(i - 1, shift) or same(i + 1, shift)):
                pairs.append((cam[i + shift], view[i]))
                break
    return pairs


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def analyse(pcap, cam_ports, viewer_ports, video_pt=96):
    """cam_ports: (min, max) of the camera's server RTP ports; viewer_ports:
    local UDP ports of the sampled viewers. Returns a dict with pooled
    p50/p99 (ms) and per-viewer details."""
    cam_pk = {}
    view_pk = {p: {} for p in viewer_ports}
    for t, _src, sport, _dst, dport, plen, head in read_pcap(pcap):
        h = rtp_header(head, plen)
        if h is None:
            continue
        ssrc, pt, marker, seq, ts, hl = h
        if cam_ports[0] <= sport <= cam_ports[1]:
            if pt == video_pt:
                cam_pk.setdefault(ssrc, []).append((t, seq, ts, marker, plen - hl))
        elif dport in view_pk:
            view_pk[dport].setdefault(ssrc, []).append((t, seq, ts, marker, plen - hl))
    if not cam_pk:
        return {"error": "no camera RTP in the capture"}
    cam_ssrc = max(cam_pk, key=lambda s: len(cam_pk[s]))
    cam = frames_of(cam_pk[cam_ssrc], 0)
    pooled, per_viewer = [], []
    for port in viewer_ports:
        streams = view_pk[port]
        if not streams:
            per_viewer.append({"port": port, "error": "no packets"})
            continue
        # Video is the SSRC carrying the most bytes (audio is ~64 kbit/s).
        ssrc = max(streams, key=lambda s: sum(p[4] for p in streams[s]))
        view = frames_of(streams[ssrc], SRTP_TAG)
        pairs = _match(cam, view)
        lat = [(v[0] - c[0]) * 1000.0 for c, v in pairs
               if c[0] - 0.0005 <= v[0] <= c[0] + 2.0]
        pooled += lat
        per_viewer.append({
            "port": port, "frames": len(view), "matched": len(lat),
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
        })
    return {
        "camera_frames": len(cam),
        "frames": len(pooled),
        "p50_ms": percentile(pooled, 50),
        "p99_ms": percentile(pooled, 99),
        "max_ms": max(pooled) if pooled else None,
        "viewers": per_viewer,
    }


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit("usage: latency.py PCAP CAM_PORT_MIN CAM_PORT_MAX VIEWER_PORT...")
    import json
    print(json.dumps(analyse(sys.argv[1], (int(sys.argv[2]), int(sys.argv[3])),
                             [int(p) for p in sys.argv[4:]]), indent=1))
