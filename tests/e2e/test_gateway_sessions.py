#!/usr/bin/python3
"""The sessions API (list, one, kick) and the path hooks, with real viewers.

One on-demand camera path (H.264 + Opus, a password in its URL,
close-after=1) with all four hooks (one named relative to the path file):
each appends its argv and environment to a file in the test's directory (run-on-ready also stays up until it gets
SIGTERM). The API takes api-users. User-visible checks:
- without credentials /v1/sessions, a session's URL and its kick get 401;
- a webrtcbin WHEP viewer (video only) and a webrtcbin websocket viewer
  (answering the gateway's video and audio offer) decode 320x240 frames;
  GET /v1/sessions lists both, oldest first (kind whep / ws, path cam, the
  client's address, an RFC 3339 time, connected), the WHEP one with its one
  negotiated track (H264, passthrough), the websocket one with H264 and
  OPUS; /v1/paths/cam/sessions and /v1/sessions/ID agree;
- DELETE of the websocket session: its viewer gets a close frame (1000)
  and decodes no new frame, while the WHEP viewer goes on;
- DELETE of the WHEP session: the viewer decodes no new frame, the session
  is gone from the list, its WHEP resource answers 404; an unknown id 404;
- the hooks ran in the order ready, read (WHEP), read (websocket), unread
  (websocket), unread (WHEP), not-ready, with GW_PATH, GW_SESSION_ID and
  GW_REMOTE as the API showed them and GW_SOURCE_STATE set; run-on-ready was terminated when the path stopped; the hooks' output
  is in the gateway's log with the path's name; the camera password is in
  no hook's argv or environment;
- --check-config reports a hook whose program does not exist as
  file:line: field;
- SIGTERM: the gateway exits 0, having logged no CRITICAL.
"""

import base64
import calendar
import json
import os
import re
import stat
import subprocess
import time

import gwtest as g
import test_gateway_lib as gl

SECRET = "Hook-S3cret-4417"
API = ("operator", "api-Pa55word")
CLOSE_AFTER = 1

# Appends one line per event to "events" (its argv and the GW_ variables)
# and the whole environment to env-EVENT-PID. run-on-ready stays up (at most
# 60 s) until SIGTERM, which it records.
HOOK = r"""#!/bin/sh
d=$(dirname "$0")
printf 'EVENT %s|%s|%s|%s|%s\n' "$*" "$GW_PATH" "$GW_SESSION_ID" "$GW_REMOTE" "$GW_SOURCE_STATE" >> "$d/events"
env > "$d/env-$1-$$"
echo "hook $1 on $GW_PATH says hello"
if [ "$1" = ready ]; then
  trap 'echo "TERMINATED ready" >> "$d/events"; exit 0' TERM
  i=0
  while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
fi
"""


def auth_header():
    token = base64.b64encode(("%s:%s" % API).encode()).decode()
    return {"Authorization": "Basic " + token}


def api(gw, method, route, auth=True):
    st, hdrs, body = g.http_request(method, gw.base_url() + route,
                                    headers=auth_header() if auth else None,
                                    timeout=5)
    return st, hdrs, body.decode("utf-8", "replace")


def api_json(gw, route):
    st, hdrs, body = api(gw, "GET", route)
    g.check(st == 200, "GET %s: %d %s" % (route, st, body[:200]))
    g.check(hdrs.get("content-type", "").startswith("application/json"),
            "GET %s: Content-Type %r" % (route, hdrs.get("content-type")))
    return json.loads(body)


def events(path):
    try:
        with open(path) as f:
            return [l.rstrip("\n") for l in f if l.strip()]
    except FileNotFoundError:
        return []


def wait_events(path, pred, timeout, what):
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.1) + 2):
        ev = events(path)
        if pred(ev):
            return ev
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise g.TestFailure("hooks: %s not seen within %.0f s; events: %s"
                        % (what, timeout, ev))


def parse_event(line):
    """'EVENT argv|path|session|remote|state' -> dict."""
    g.check(line.startswith("EVENT "), "not an event line: %r" % line)
    argv, path, session, remote, state = line[6:].split("|")
    return {"argv": argv, "name": argv.split(" ")[0], "path": path,
            "session": session, "remote": remote, "state": state}


def check_session(s, kind, codecs):
    g.check(s["path"] == "cam", "session %s: path %r" % (s["id"], s["path"]))
    g.check(s["kind"] == kind, "session %s: kind %r, want %r"
            % (s["id"], s["kind"], kind))
    g.check(re.match(r"^%s:\d+$" % re.escape(g.PEER_IP), s["remote"]) or
            re.match(r"^%s:\d+$" % re.escape(g.GW_IP), s["remote"]),
            "session %s: remote %r is not address:port" % (s["id"], s["remote"]))
    g.check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", s["created"]),
            "session %s: created %r is not RFC 3339 UTC" % (s["id"], s["created"]))
    age = time.time() - calendar.timegm(time.strptime(s["created"], "%Y-%m-%dT%H:%M:%SZ"))
    g.check(-5 < age < 120, "session %s: created %s is %.0f s away from now"
            % (s["id"], s["created"], age))
    got = sorted((t["media"], t["codec"]) for t in s["tracks"])
    g.check(got == sorted(codecs), "session %s (%s): tracks %s, want %s"
            % (s["id"], kind, got, sorted(codecs)))
    g.check(all(t["passthrough"] is True for t in s["tracks"]),
            "session %s: a track is not passthrough: %s" % (s["id"], s["tracks"]))


def test(procs):
    cam, url = g.start_camera(procs, args=("--user", "admin",
                                           "--password", SECRET))
    source = url.replace("rtsp://", "rtsp://admin:%s@" % SECRET, 1)
    gw = gl.Gateway(procs, server_extra="api-users=%s:%s\n" % API)
    hook = os.path.join(gw.dir, "hook.sh")
    with open(hook, "w") as f:
        f.write(HOOK)
    os.chmod(hook, stat.S_IRWXU)
    ev_file = os.path.join(gw.dir, "events")
    gw.write_path("cam", "[path]\nsource=%s\non-demand=true\nclose-after=%d\n"
                  "run-on-ready=%s ready 'two words'\n"
                  "run-on-not-ready=../hook.sh not-ready\n"
                  "run-on-read=%s read\n"
                  "run-on-unread=%s unread\n"
                  % (source, CLOSE_AFTER, hook, hook, hook))
    gw.start()

    # The API's credentials are required.
    for method, route in (("GET", "/v1/sessions"),
                          ("GET", "/v1/paths/cam/sessions"),
                          ("GET", "/v1/sessions/0123456789abcdef0123456789abcdef"),
                          ("DELETE", "/v1/sessions/0123456789abcdef0123456789abcdef")):
        st, hdrs, _ = api(gw, method, route, auth=False)
        g.check(st == 401 and "www-authenticate" in hdrs,
                "%s %s without credentials: %d" % (method, route, st))
    g.check(api_json(gw, "/v1/sessions") == [], "sessions before any viewer")

    viewer = g.start_gst_viewers(procs, gw.whep_url("cam"))
    stats = g.wait_frames(viewer, 15, 45)
    v = gl.viewer_of(stats)
    whep_id = v["location"].rsplit("/", 1)[1]
    # The websocket viewer: the gateway offers video and audio, it answers
    # both and decodes.
    ws_viewer = g.start_gst_viewers(
        procs, "ws://%s:%d/cam/ws" % (g.GW_IP, gw.port), name="ws-viewer",
        extra=["--ws"])
    ws_stats = g.wait_frames(ws_viewer, 15, 45)
    g.check(gl.viewer_of(ws_stats)["audio_codec"] == "OPUS",
            "the websocket viewer got no Opus track: %s"
            % gl.viewer_of(ws_stats))

    sessions = api_json(gw, "/v1/sessions")
    g.log("sessions: %s" % json.dumps(sessions))
    g.check(len(sessions) == 2, "%d sessions listed, want 2" % len(sessions))
    by_id = {s["id"]: s for s in sessions}
    g.check(whep_id in by_id, "the WHEP viewer's session %s is not listed"
            % whep_id)
    ws_id = [i for i in by_id if i != whep_id][0]
    g.check(sessions[0]["id"] == whep_id, "the list is not oldest first")
    check_session(by_id[whep_id], "whep", [("video", "H264")])
    check_session(by_id[ws_id], "ws", [("video", "H264"), ("audio", "OPUS")])
    for i in (whep_id, ws_id):
        g.check(by_id[i]["state"] == "connected",
                "the decoding viewer's session %s is %r" % (i, by_id[i]["state"]))
    per_path = api_json(gw, "/v1/paths/cam/sessions")
    g.check(sorted(s["id"] for s in per_path) == sorted(by_id),
            "/v1/paths/cam/sessions lists %s" % [s["id"] for s in per_path])
    one = api_json(gw, "/v1/sessions/" + whep_id)
    g.check(one == by_id[whep_id], "GET /v1/sessions/ID: %s" % one)
    st, _, _ = api(gw, "GET", "/v1/paths/nope/sessions")
    g.check(st == 404, "sessions of an unknown path: %d" % st)

    # Kick the websocket viewer: its socket is closed normally, it stops
    # decoding, the WHEP viewer goes on.
    gl.wait_more_frames(ws_viewer, 5, 10, "the websocket viewer before the kick")
    st, _, body = api(gw, "DELETE", "/v1/sessions/" + ws_id)
    g.check(st == 200, "DELETE the websocket session: %d %s" % (st, body))
    ws_viewer.wait_stats(lambda s: s["viewers"][0]["ws_close"] is not None, 10,
                         "the websocket to be closed after the kick")
    code = gl.viewer_of(ws_viewer.latest_stats())["ws_close"]
    g.check(code == 1000, "the websocket was closed with %s, want 1000" % code)
    gl.assert_frozen(ws_viewer, 3, "the websocket viewer after its kick")
    gl.wait_more_frames(viewer, 5, 10, "the WHEP viewer after the other's kick")
    g.check([s["id"] for s in api_json(gw, "/v1/sessions")] == [whep_id],
            "after the websocket kick the list is %s"
            % api_json(gw, "/v1/sessions"))

    # Kick the WHEP viewer: it stops receiving, its session is gone.
    st, _, body = api(gw, "DELETE", "/v1/sessions/" + whep_id)
    g.check(st == 200, "DELETE the WHEP session: %d %s" % (st, body))
    gl.assert_frozen(viewer, 3, "after DELETE /v1/sessions/ID")
    g.check(api_json(gw, "/v1/sessions") == [], "sessions left after the kicks")
    st, _, _ = api(gw, "GET", "/v1/sessions/" + whep_id)
    g.check(st == 404, "GET of the kicked session: %d" % st)
    g.check(gw.delete(v["location"]) == 404,
            "the kicked session's WHEP resource does not answer 404")
    st, _, _ = api(gw, "DELETE", "/v1/sessions/" + whep_id)
    g.check(st == 404, "a second kick: %d" % st)
    st, _, _ = api(gw, "DELETE", "/v1/sessions/0123456789abcdef0123456789abcdef")
    g.check(st == 404, "kick of an unknown id: %d" % st)

    # The path closes its source after close-after: not-ready, and
    # run-on-ready is told to stop.
    ev = wait_events(ev_file, lambda e: any(l.startswith("EVENT not-ready") for l in e)
                     and "TERMINATED ready" in e, CLOSE_AFTER + 15,
                     "not-ready and the end of run-on-ready")
    g.log("hook events: %s" % ev)
    parsed = [parse_event(l) for l in ev if l.startswith("EVENT ")]
    order = [(p["name"], p["session"]) for p in parsed]
    want = [("ready", ""), ("read", whep_id), ("read", ws_id), ("unread", ws_id),
            ("unread", whep_id), ("not-ready", "")]
    g.check(order == want, "hooks ran in the order %s, want %s" % (order, want))
    g.check(parsed[0]["argv"] == "ready two words",
            "run-on-ready's argv: %r" % parsed[0]["argv"])
    for p in parsed:
        g.check(p["path"] == "cam", "%s: GW_PATH %r" % (p["name"], p["path"]))
        g.check(p["state"] in ("connecting", "streaming", "retrying"),
                "%s: GW_SOURCE_STATE %r" % (p["name"], p["state"]))
        if p["name"] in ("ready", "not-ready"):
            g.check(p["remote"] == "", "%s has a remote: %s" % (p["name"], p))
        else:
            g.check(p["remote"] == by_id[p["session"]]["remote"],
                    "%s: GW_REMOTE %r, the API said %r"
                    % (p["name"], p["remote"], by_id[p["session"]]["remote"]))
    env_files = [f for f in os.listdir(gw.dir) if f.startswith("env-")]
    g.check(len(env_files) == 6, "env files: %s" % env_files)
    for f in env_files + ["events"]:
        with open(os.path.join(gw.dir, f)) as fh:
            text = fh.read()
        g.check("GW_PATH=cam" in text or f == "events",
                "%s holds no GW_PATH" % f)
        g.check(SECRET not in text, "the camera password reached a hook (%s)" % f)
        g.check("rtsp://" not in text, "a URL reached a hook (%s)" % f)
    for name in ("ready", "read", "unread", "not-ready"):
        gw.wait_log(r"path cam: run-on-%s: hook %s on cam says hello" % (name, name), 5)
    gw.wait_log(r"path cam: run-on-ready \(pid \d+\) exited with status 0", 5)

    # --check-config names a hook whose program is missing.
    broken = os.path.join(gw.dir, "broken")
    os.mkdir(broken)
    with open(os.path.join(broken, "x.pipeline"), "w") as f:
        f.write("[path]\nsource=%s\nrun-on-read=/nonexistent/notify --now\n" % source)
    r = subprocess.run([gl.gateway_binary(), "--check-config", "--pipelines", broken],
                       capture_output=True, text=True, timeout=20)
    g.check(r.returncode == 1, "--check-config exited %d" % r.returncode)
    g.check("x.pipeline:3: run-on-read: the program \"/nonexistent/notify\" is not an "
            "executable file" in r.stderr, "--check-config said %r" % r.stderr)
    g.check(SECRET not in r.stdout + r.stderr, "--check-config shows the password")

    g.check(gw.alive(), "the gateway exited")
    gw.stop_and_check()
    g.check(SECRET not in "\n".join(gw.log()),
            "the camera password is in the gateway's log")


if __name__ == "__main__":
    g.run_test(test, timeout=120)
