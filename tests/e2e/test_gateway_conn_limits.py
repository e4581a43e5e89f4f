#!/usr/bin/python3
"""A client opening a thousand connections cannot take the gateway down.

The gateway runs with max-connections-per-address=64, max-connections=150
and request-timeout=30 while a webrtcbin viewer decodes the camera
throughout. Flooding clients use extra addresses 10.99.0.3-5 added to the
namespace's veth; 10.99.0.2 plays an innocent client.

User-visible checks:
- 64 connections from 10.99.0.3 holding half-sent requests (slowloris) are
  all admitted (gw_http_connections counts them);
- 936 more from 10.99.0.3 (1000 in all), sent in bursts of 117 open at once
  with complete requests, each get `429 Too Many Requests` with Retry-After
  and are then closed by the gateway;
- then 936 connections from 10.99.0.3 held open at once with half-sent
  requests (1000 in all) cost the gateway at most 256 descriptors more;
  each is answered 429 or closed, none admitted;
- meanwhile a request from 10.99.0.2 gets 200 quickly;
- 64 more idle connections from 10.99.0.4 fill the gateway up to its global
  limit with 10.99.0.5; beyond it requests from 10.99.0.5 and 10.99.0.2 get
  `503 Service Unavailable` with Retry-After;
- the half-sent requests are closed by the gateway after request-timeout,
  and /metrics counts them as timed out;
- the viewer never stops decoding for more than 3 s during all that;
- once every connection is closed, the flooding address is served again,
  a new viewer decodes frames, and SIGTERM stops the gateway cleanly.
"""

import os
import resource
import selectors
import socket
import subprocess
import time

import gwtest as g
import test_gateway_lib as gl

PER_ADDRESS = 64
GLOBAL = 150
REQUEST_TIMEOUT = 30
FLOOD_ADDR = "10.99.0.3"
FILL_ADDR = "10.99.0.4"
EDGE_ADDR = "10.99.0.5"
FLOOD_TOTAL = 1000
BURST = 117  # 936 = 8 x 117


def add_addresses():
    for a in (FLOOD_ADDR, FILL_ADDR, EDGE_ADDR):
        subprocess.run(["ip", "addr", "add", a + "/24", "dev", "v1"],
                       check=True)


def connect(src, port, timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((g.GW_IP, port))
    return s


def request(route="/v1/paths"):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (route, g.GW_IP)).encode()


def read_responses(socks, timeout):
    """Reads every socket until the server closes it or `timeout` passes;
    returns {socket: bytes} and whether each one was closed by the server."""
    sel = selectors.DefaultSelector()
    data = {s: b"" for s in socks}
    closed = {s: False for s in socks}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    left = len(socks)
    for _ in range(100000):
        if left == 0 or time.monotonic() > deadline:
            break
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                chunk = s.recv(4096)
            except (ConnectionResetError, BlockingIOError):
                chunk = b""
            if chunk:
                data[s] += chunk
            else:
                closed[s] = True
                sel.unregister(s)
                left -= 1
    sel.close()
    return data, closed


def status_of(raw):
    line = raw.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def header(raw, name):
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def metric(gw, name, source=None):
    st, _, body = gw.get("/metrics", source=source)
    g.check(st == 200, "GET /metrics: %d" % st)
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise g.TestFailure("no %s in /metrics" % name)


def timed_get(gw, source, what):
    t0 = time.monotonic()
    st, hdrs, body = gw.get("/v1/paths", timeout=5, source=source)
    dt = time.monotonic() - t0
    g.log("%s: GET /v1/paths from %s: %d in %.3f s" % (what, source, st, dt))
    return st, hdrs, body, dt


def test(procs):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096
    g.check(hard == resource.RLIM_INFINITY or hard >= want,
            "the hard file descriptor limit (%d) is below %d" % (hard, want))
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    add_addresses()

    cam, url = g.start_camera(procs)
    gw = gl.Gateway(procs, server_extra=(
        "max-connections-per-address=%d\nmax-connections=%d\n"
        "request-timeout=%d\n" % (PER_ADDRESS, GLOBAL, REQUEST_TIMEOUT)))
    gw.write_path("cam", "[path]\nsource=%s\n" % url)
    gw.start()

    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewer")
    g.wait_frames(viewer, 15, 40)
    watch = gl.StallWatch(viewer)
    all_socks = []
    try:
        # 1. Slowloris: 64 half-sent requests from one address, all admitted.
        t_idle = time.monotonic()
        idle = [connect(FLOOD_ADDR, gw.port) for _ in range(PER_ADDRESS)]
        all_socks += idle
        for s in idle:
            s.sendall(b"GET /v1/paths HTTP/1.1\r\nHost: x\r\n")
        n = metric(gw, "gw_http_connections")
        g.log("open connections with %d idle ones: %d" % (PER_ADDRESS, n))
        # The GET /metrics itself is open too.
        g.check(n == PER_ADDRESS + 1, "gw_http_connections is %d with %d "
                "idle connections and this request" % (n, PER_ADDRESS))

        # 2. The rest of 1000 from the same address: 429 each, then closed.
        statuses = {}
        missing_retry = 0
        t0 = time.monotonic()
        for b in range((FLOOD_TOTAL - PER_ADDRESS) // BURST):
            burst = []
            for _ in range(BURST):
                s = connect(FLOOD_ADDR, gw.port)
                s.sendall(request())
                burst.append(s)
            all_socks += burst
            data, closed = read_responses(burst, 20)
            for s in burst:
                st = status_of(data[s])
                statuses[st] = statuses.get(st, 0) + 1
                if st == 429 and header(data[s], "retry-after") is None:
                    missing_retry += 1
                g.check(closed[s], "a refused connection was not closed by "
                        "the gateway (got %r)" % data[s][:100])
            if b == 0:
                # An innocent client during the flood.
                st, _, _, dt = timed_get(gw, g.PEER_IP, "during the flood")
                g.check(st == 200, "another address got %d during the flood"
                        % st)
                g.check(dt < 2.0, "another address waited %.2f s" % dt)
        g.log("%d more connections from %s: statuses %s in %.1f s"
              % (FLOOD_TOTAL - PER_ADDRESS, FLOOD_ADDR, statuses,
                 time.monotonic() - t0))
        g.check(statuses == {429: FLOOD_TOTAL - PER_ADDRESS},
                "the connections over the per-address limit got %s (want "
                "429 for all %d)" % (statuses, FLOOD_TOTAL - PER_ADDRESS))
        g.check(missing_retry == 0, "%d answers 429 without Retry-After"
                % missing_retry)
        st, _, _, dt = timed_get(gw, g.PEER_IP, "after the flood")
        g.check(st == 200, "another address got %d after the flood" % st)

        # 2b. 936 held open at once with half-sent requests (1000 open from
        # one address): the gateway answers or closes them without holding
        # a descriptor for each, and stays responsive.
        fds_before = len(os.listdir("/proc/%d/fd" % gw.proc.pid))
        held = []
        for _ in range(FLOOD_TOTAL - PER_ADDRESS):
            s = connect(FLOOD_ADDR, gw.port)
            s.sendall(b"GET /v1/paths HTTP/1.1\r\n")
            held.append(s)
        all_socks += held
        fds_during = len(os.listdir("/proc/%d/fd" % gw.proc.pid))
        st, _, _, dt = timed_get(gw, g.PEER_IP, "with 1000 held open")
        g.check(st == 200 and dt < 2.0, "another address got %d in %.2f s "
                "with 1000 connections held open" % (st, dt))
        for s in held:
            try:
                s.sendall(b"Host: x\r\n\r\n")
            except OSError:
                pass  # already closed by the gateway
        data, closed = read_responses(held, 15)
        held_st = {}
        for s in held:
            st = status_of(data[s])
            held_st[st] = held_st.get(st, 0) + 1
        g.log("%d held connections: gateway descriptors %d -> %d; answers "
              "%s (None: closed unanswered)" % (len(held), fds_before,
                                                fds_during, held_st))
        g.check(all(closed[s] for s in held),
                "%d held connections still open" % sum(
                    1 for s in held if not closed[s]))
        g.check(set(held_st) <= {429, None} and held_st.get(429, 0) > 0,
                "connections over the limit got %s" % held_st)
        g.check(fds_during < fds_before + 256 + 50,
                "the gateway held %d descriptors for %d refused connections"
                % (fds_during - fds_before, len(held)))

        g.check(time.monotonic() - t_idle < REQUEST_TIMEOUT - 5,
                "the flood took too long to test the global limit with the "
                "idle connections still open")
        # 3. The global limit: 64 idle from a second address, then fill up.
        fill = [connect(FILL_ADDR, gw.port) for _ in range(PER_ADDRESS)]
        all_socks += fill
        for s in fill:
            s.sendall(b"GET /v1/paths HTTP/1.1\r\n")
        edge = []
        for _ in range(40):
            s = connect(EDGE_ADDR, gw.port)
            s.sendall(request())
            edge.append(s)
        all_socks += edge
        # Keep-alive: an answered 200 keeps its connection open; a refusal
        # closes it. Read until every refused one closed.
        data, closed = read_responses(edge, 5)
        edge_st = {}
        for s in edge:
            st = status_of(data[s])
            edge_st[st] = edge_st.get(st, 0) + 1
            if st == 503:
                g.check(header(data[s], "retry-after") is not None,
                        "503 without Retry-After")
                g.check(closed[s], "a 503 connection stays open")
        g.log("40 connections from %s at the global limit: %s"
              % (EDGE_ADDR, edge_st))
        ok = edge_st.get(200, 0)
        g.check(edge_st.get(503, 0) > 0 and ok + edge_st.get(503, 0) == 40,
                "at the global limit: %s (want 200s then 503s)" % edge_st)
        g.check(2 * PER_ADDRESS + ok == GLOBAL,
                "%d + %d + %d connections admitted, the limit is %d"
                % (PER_ADDRESS, PER_ADDRESS, ok, GLOBAL))
        st, hdrs, body, dt = timed_get(gw, g.PEER_IP, "at the global limit")
        g.check(st == 503 and "retry-after" in hdrs,
                "another address at the global limit got %d %s (want 503 "
                "with Retry-After)" % (st, hdrs))
        for s in edge:
            s.close()

        # 4. The half-sent requests are closed after request-timeout.
        data, closed = read_responses(idle, REQUEST_TIMEOUT + 10)
        waited = time.monotonic() - t_idle
        n_closed = sum(1 for s in idle if closed[s])
        g.log("%d of %d half-sent requests closed by the gateway %.1f s "
              "after they were opened" % (n_closed, len(idle), waited))
        g.check(n_closed == len(idle), "%d half-sent requests still open "
                "%.0f s later" % (len(idle) - n_closed, waited))
        g.check(waited >= REQUEST_TIMEOUT - 1, "closed after %.1f s, before "
                "request-timeout" % waited)
        g.check(all(not data[s] for s in idle),
                "a half-sent request got an answer")
    finally:
        for s in all_socks:
            s.close()
        longest = watch.stop()
    g.log("longest time without a new decoded frame: %.2f s" % longest)
    g.check(longest < 3.0, "the viewer froze for %.1f s during the flood"
            % longest)

    # 5. All closed: served normally again, the flooding address included.
    deadline = time.monotonic() + 10
    n = None
    for _ in range(100):
        n = metric(gw, "gw_http_connections", source=FLOOD_ADDR)
        if n <= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    g.check(n <= 1, "gw_http_connections is %d after every client left" % n)
    g.check(metric(gw, "gw_http_connections_timed_out_total") >= PER_ADDRESS,
            "the half-sent requests were not counted as timed out")
    refused = metric(gw, 'gw_http_connections_refused_total{limit="per-address"}')
    g.check(refused >= FLOOD_TOTAL - PER_ADDRESS,
            "gw_http_connections_refused_total per-address is %d" % refused)
    st, _, _, dt = timed_get(gw, FLOOD_ADDR, "afterwards")
    g.check(st == 200, "the flooding address got %d afterwards" % st)
    second = g.start_gst_viewers(procs, gw.whep_url("cam"), name="viewer2")
    g.wait_frames(second, 15, 40)
    gl.wait_more_frames(viewer, 10, 10, "the first viewer keeps decoding")
    g.check(g.camera_sessions(cam) == 1,
            "%d RTSP sessions at the camera" % g.camera_sessions(cam))
    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=170)
