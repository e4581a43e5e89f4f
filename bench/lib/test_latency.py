"""Unit test of latency.py: a synthetic capture in which the gateway holds
each frame 2 ms, re-packetizes it, adds SRTP tags and drops frames for the
viewer; the measured residence time must be 2 ms for every frame it sent.
Run: /usr/bin/python3 bench/lib/test_latency.py (meson test bench-latency)."""

import os
import random
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import latency  # noqa: E402

# (address, source port, destination port)
CAM = ("10.99.0.1", 50000, 40000)
GATEWAY = ("10.99.0.1", 45000, 0)
VIEWER = ("10.99.0.2", 51000, 47000)


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def record(t, src, dst, rtp_head, payload_len, pkttype=0):
    """One SLL2 record (tcpdump -i any) truncated to 128 bytes."""
    udp_len = 8 + len(rtp_head) + payload_len
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0,
                     ip4(src[0]), ip4(dst[0]))
    udp = struct.pack("!HHHH", src[1], dst[2], udp_len, 0)
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 1, 1, pkttype, 6, b"")
    frame = (sll2 + ip + udp + rtp_head + b"\0" * payload_len)
    cap = frame[:128]
    sec = int(t)
    return struct.pack("<IIII", sec, int((t - sec) * 1e6), len(cap), len(frame)) + cap


def rtp(seq, ts, marker, ssrc, pt):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                       ts & 0xFFFFFFFF, ssrc)


def packets(size, mtu):
    """FU-A style split of a NAL of `size` bytes: (payload lengths)."""
    out, left = [], size
    while left > 0:
        n = min(left, mtu - 2)
        out.append(n + 2)
        left -= n
    return out


def main():
    random.seed(7)
    recs = []
    cam_seq = view_seq = 0
    dropped = set(range(40, 44))
    expected = 0
    for k in range(120):
        t = 1000.0 + k / 30.0
        size = random.randint(9000, 30000)
        for i, plen in enumerate(packets(size, 1400)):
            last = i == len(packets(size, 1400)) - 1
            recs.append((t + i * 1e-5, record(t + i * 1e-5, CAM, CAM,
                         rtp(cam_seq, k * 3000, last, 1111, 96), plen)))
            cam_seq += 1
        if k < 3 or k in dropped:
            continue
        expected += 1
        pk = packets(size, 1200)
        # The viewer's last packet leaves 2 ms after the camera's last one.
        tv = t + (len(packets(size, 1400)) - 1) * 1e-5 + 0.002 - (len(pk) - 1) * 1e-5
        for i, plen in enumerate(pk):
            last = i == len(pk) - 1
            head = rtp(view_seq, 7 + k * 3000, last, 2222, 102)
            # SRTP: the payload carries a 10-byte authentication tag; the
            # outgoing copy on v0 (packet type 4) must be ignored.
            recs.append((tv + i * 1e-5, record(tv + i * 1e-5, GATEWAY, VIEWER, head,
                                               plen + latency.SRTP_TAG, 4)))
            recs.append((tv + i * 1e-5, record(tv + i * 1e-5, GATEWAY, VIEWER, head,
                                               plen + latency.SRTP_TAG, 0)))
            view_seq += 1
        # Audio on the same port must not be taken for video.
        recs.append((tv, record(tv, GATEWAY, VIEWER, rtp(k, k * 960, True, 3333, 111), 80)))
    recs.sort(key=lambda r: r[0])
    fd, path = tempfile.mkstemp(suffix=".pcap")
    with os.fdopen(fd, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 276))
        for _, r in recs:
            f.write(r)
    try:
        res = latency.analyse(path, (50000, 50019), [47000])
    finally:
        os.unlink(path)
    v = res["viewers"][0]
    print("frames %d (expected %d), matched %d, p50 %.3f ms, p99 %.3f ms" % (
        v["frames"], expected - 1, v["matched"], res["p50_ms"], res["p99_ms"]))
    # The first viewer frame is skipped (capture may start inside it).
    assert v["frames"] == expected - 1, v
    assert v["matched"] == v["frames"], v
    assert abs(res["p50_ms"] - 2.0) < 0.05 and abs(res["p99_ms"] - 2.0) < 0.05, res
    print("OK")


if __name__ == "__main__":
    main()
