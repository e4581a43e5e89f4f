#!/usr/bin/python3
"""tls-cert/tls-key: the gateway serves HTTPS and WSS only.

A self-signed certificate for 10.99.0.1 is made with openssl; the clients
trust it as their CA (GW_E2E_CA_FILE, read by gwtest.http_request).

User-visible checks:
- --check-config reports a key that does not belong to the certificate as
  `file:line: tls-key: ...` and the gateway refuses to start with it;
- with the right key the gateway prints https:// URLs; GET /v1/paths and
  the player page answer over HTTPS, the page with relative URLs only;
- a client that does not trust the certificate is refused by TLS;
- a webrtcbin viewer POSTing its offer to https://.../cam/whep decodes
  320x240 frames;
- a websocket over wss:// gets the server's offer (an SDP with a video
  m-line);
- plain http:// to the same port gets no HTTP answer;
- headless Chromium plays the player page over HTTPS (decoded H.264
  frames of 320x240);
- SIGTERM stops the gateway cleanly.
"""

import base64
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import time

import gwtest as g
import test_gateway_lib as gl


def make_cert(d, name):
    key = os.path.join(d, name + "-key.pem")
    cert = os.path.join(d, name + "-cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-days", "2", "-subj", "/CN=" + g.GW_IP,
         "-addext", "subjectAltName=IP:" + g.GW_IP,
         "-keyout", key, "-out", cert],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def ws_frames(tls, timeout):
    """Yields the text payloads of the server's websocket frames (unmasked,
    unfragmented, as libsoup sends them) until `timeout`."""
    buf = b""
    deadline = time.monotonic() + timeout
    for _ in range(10000):
        while True:
            if len(buf) >= 2:
                n = buf[1] & 0x7f
                head = 2 + (2 if n == 126 else 8 if n == 127 else 0)
                if len(buf) >= head:
                    if n == 126:
                        n = struct.unpack(">H", buf[2:4])[0]
                    elif n == 127:
                        n = struct.unpack(">Q", buf[2:10])[0]
                    if len(buf) >= head + n:
                        opcode = buf[0] & 0x0f
                        payload = buf[head:head + n]
                        buf = buf[head + n:]
                        if opcode == 1:
                            yield payload.decode()
                        continue
            break
        left = deadline - time.monotonic()
        if left <= 0:
            return
        tls.settimeout(left)
        try:
            chunk = tls.recv(65536)
        except socket.timeout:
            return
        if not chunk:
            return
        buf += chunk


def wss_offer(port, path):
    """Opens wss://10.99.0.1:port/path/ws; returns the first offer's SDP."""
    ctx = g.tls_context()
    raw = socket.create_connection((g.GW_IP, port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=g.GW_IP) as tls:
        key = base64.b64encode(os.urandom(16)).decode()
        tls.sendall(("GET /%s/ws HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "\r\n" % (path, g.GW_IP, port, key)).encode())
        head = b""
        for _ in range(4096):  # the response head, byte by byte
            if b"\r\n\r\n" in head:
                break
            chunk = tls.recv(1)
            if not chunk:
                break
            head += chunk
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        g.log("wss handshake: %s" % status)
        g.check(" 101 " in status + " ", "wss handshake: %r" % status)
        for text in ws_frames(tls, 20):
            m = json.loads(text)
            g.log("wss message: %s" % m.get("type"))
            if m.get("type") == "offer":
                return m.get("sdp", "")
            g.check(m.get("type") != "error", "wss error: %s" % m)
    raise g.TestFailure("no offer over wss within 20 s")


def test(procs):
    d = procs.mkdtemp("gw-e2e-tls-")
    cert, key = make_cert(d, "gw")
    _, other_key = make_cert(d, "other")
    os.environ["GW_E2E_CA_FILE"] = cert  # viewers inherit it

    cam, url = g.start_camera(procs)

    # A key that is not the certificate's: a clear error, no start.
    bad = gl.Gateway(procs, name="bad-gateway", server_extra=(
        "tls-cert=%s\ntls-key=%s\n" % (cert, other_key)))
    r = subprocess.run([gl.gateway_binary(), "--config", bad.conf,
                        "--check-config"], capture_output=True, text=True,
                       timeout=30)
    g.log("--check-config with another key: rc=%d %s"
          % (r.returncode, r.stderr.strip()))
    g.check(r.returncode == 1, "--check-config accepted a wrong key")
    g.check(re.search(r"gateway\.conf:\d+: tls-key: the key in", r.stderr),
            "no file:line: tls-key error: %r" % r.stderr)
    r = subprocess.run([gl.gateway_binary(), "--config", bad.conf],
                       capture_output=True, text=True, timeout=30)
    g.check(r.returncode == 1 and "tls-key" in r.stderr,
            "the gateway started with a wrong key (rc=%d)" % r.returncode)

    gw = gl.Gateway(procs, server_extra="tls-cert=%s\ntls-key=%s\n"
                    % (cert, key))
    gw.write_path("cam", "[path]\nsource=%s\n" % url)
    gw.start()
    gw.proc.wait_line(re.escape("https://%s:%d/cam/" % (g.GW_IP, gw.port)), 5)

    g.check("cam" in gw.paths(), "GET /v1/paths over HTTPS lacks cam")
    st, hdrs, body = gw.get("/cam/")
    g.check(st == 200 and hdrs.get("content-type", "").startswith(
        "text/html"), "player page over HTTPS: %d %s" % (st, hdrs))
    page = body.decode()
    absolute = re.search(r"(https?|wss?)://\S*", page)
    g.check(absolute is None, "the player page has an absolute URL: %s"
            % (absolute and absolute.group(0)))
    g.check("new URL('whep', location.href)" in page,
            "the player page does not build its WHEP URL from its own")

    # TLS for real: a client without the CA is refused.
    untrusting = ssl.create_default_context()
    try:
        with untrusting.wrap_socket(
                socket.create_connection((g.GW_IP, gw.port), timeout=5),
                server_hostname=g.GW_IP):
            raise g.TestFailure("a client that does not trust the "
                                "certificate completed a handshake")
    except ssl.SSLCertVerificationError as e:
        g.log("untrusting client: %s" % e.verify_message)

    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewer")
    s = g.wait_frames(viewer, 15, 40)
    v = s["viewers"][0]
    g.check(v["http_status"] == 201, "WHEP POST over HTTPS: %s"
            % v["http_status"])
    g.check(v["location"].startswith("https://"), "session URL %r"
            % v["location"])

    sdp = wss_offer(gw.port, "cam")
    g.check(sdp.startswith("v=") and "m=video" in sdp,
            "the wss offer is not a video SDP: %r" % sdp[:200])

    # Plain HTTP on the HTTPS port: no HTTP answer.
    t0 = time.monotonic()
    try:
        st, _, _ = g.http_request("GET", "http://%s:%d/v1/paths"
                                  % (g.GW_IP, gw.port), timeout=5)
        got = "HTTP %d" % st
    except Exception as e:  # refused by TLS: the connection just ends
        got = "%s: %s" % (type(e).__name__, e)
    g.log("plain http:// to the HTTPS port: %s (%.2f s)"
          % (got, time.monotonic() - t0))
    g.check(not got.startswith("HTTP"), "plain HTTP got an answer: %s" % got)

    # The player page in a real browser over HTTPS. Chromium is told to
    # accept the test's self-signed certificate, and to let the page POST
    # its reports to the test's plain-HTTP collector.
    g.EXTRA_CHROMIUM_FLAGS += ["--ignore-certificate-errors",
                               "--allow-running-insecure-content"]
    g.chromium_plays(procs, gw.base_url() + "/cam/", 320, 240)

    gl.wait_more_frames(viewer, 10, 10, "the viewer keeps decoding")
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=100)
