#!/usr/bin/python3
"""JSON Web Tokens open a path and the API, and nothing else.

Path "cam" takes read-jwt-secret (HS256) and read-jwt-keys (a PEM file with
an RSA and a P-256 public key), "door" the same secret; the server takes a
different api-jwt-secret. Every token is made here, independently of the
gateway's library: HS256 with Python's hmac, RS256/ES256 keys and
signatures with the openssl command. One table of requests, each with the
status and the reason the client must get; no answer may contain the token
it was sent. A viewer then decodes frames over WHEP with an RS256 token in
?jwt=, and --check-config refuses a JWKS file by file and line.
"""

import os
import subprocess
import time

import gwtest as g
import jwttool as jwt
import test_gateway_lib as gl

SECRET = "e2e-read-secret-of-at-least-32-characters"
API_SECRET = "e2e-api-secret-of-at-least-32-characters"


def test(procs):
    cam, url = g.start_camera(procs)
    gw = gl.Gateway(procs, server_extra="api-jwt-secret=%s\n" % API_SECRET)
    keys = jwt.make_keys(gw.dir)
    other = jwt.make_keys(procs.mkdtemp("gw-e2e-jwt-other-"))
    with open(os.path.join(gw.pipelines, "keys.pem"), "w") as f:
        for kind in ("rsa", "ec"):
            with open(keys[kind][1]) as k:
                f.write(k.read())
    gw.write_path("cam", "[path]\nsource=%s\nread-jwt-secret=%s\n"
                  "read-jwt-keys=keys.pem\n" % (url, SECRET))
    gw.write_path("door", "[path]\nsource=%s\nread-jwt-secret=%s\n"
                  % (url, SECRET))
    gw.start()

    now = int(time.time())
    valid = {"exp": now + 600, "sub": "e2e"}
    rs256 = jwt.openssl_signed("RS256", keys["rsa"][0], valid)
    es256 = jwt.openssl_signed("ES256", keys["ec"][0], valid)
    hs256 = jwt.hs256(SECRET, valid)
    head, _, sig = hs256.rpartition(".")
    other_payload = jwt.b64url(b'{"exp": %d, "sub": "root"}' % (now + 600))
    with open(keys["rsa"][1]) as f:
        rsa_public_pem = f.read()
    door_only = jwt.hs256(SECRET, dict(valid, paths=["door"]))

    rows = [
        # (what, route, token, where, status, reason)
        ("HS256 good", "/cam/", hs256, "header", 200, ""),
        ("HS256 good in ?jwt=", "/cam/", hs256, "query", 200, ""),
        ("RS256 good", "/cam/", rs256, "header", 200, ""),
        ("ES256 good", "/cam/", es256, "query", 200, ""),
        ("paths [*]", "/cam/", jwt.hs256(SECRET, dict(valid, paths=["*"])),
         "header", 200, ""),
        ("within the 30 s leeway", "/cam/",
         jwt.hs256(SECRET, {"exp": now - 10}), "header", 200, ""),
        ("expired", "/cam/", jwt.hs256(SECRET, {"exp": now - 120}), "header",
         401, "token expired"),
        ("expired RS256", "/cam/",
         jwt.openssl_signed("RS256", keys["rsa"][0], {"exp": now - 120}),
         "query", 401, "token expired"),
        ("not yet valid", "/cam/",
         jwt.hs256(SECRET, {"nbf": now + 600}), "header", 401,
         "token not yet valid"),
        ("wrong secret", "/cam/", jwt.hs256("x" * 40, valid), "header", 401,
         "bad token signature"),
        ("payload swapped under a signature", "/cam/",
         head.split(".")[0] + "." + other_payload + "." + sig, "header", 401,
         "bad token signature"),
        ("RS256 from another key", "/cam/",
         jwt.openssl_signed("RS256", other["rsa"][0], valid), "header", 401,
         "bad token signature"),
        ("ES256 from another key", "/cam/",
         jwt.openssl_signed("ES256", other["ec"][0], valid), "query", 401,
         "bad token signature"),
        ("RS256 on a path with only a secret", "/door/", rs256, "header", 401,
         "token algorithm not accepted"),
        ("wrong path", "/cam/", door_only, "header", 401,
         "token does not open this path"),
        ("right path", "/door/", door_only, "header", 200, ""),
        ("alg none", "/cam/", jwt.unsigned(valid), "header", 401,
         "token algorithm not accepted"),
        ("alg none in ?jwt=", "/cam/", jwt.unsigned(valid), "query", 401,
         "token algorithm not accepted"),
        ("HS256 keyed with the RSA public key", "/cam/",
         jwt.hs256(rsa_public_pem, valid), "header", 401,
         "bad token signature"),
        ("HS256 keyed with a public key, path with only a secret",
         "/door/",
         jwt.hs256(rsa_public_pem, valid), "header", 401,
         "bad token signature"),
        ("not a token", "/cam/", "a.b.c", "header", 401, "malformed token"),
        ("missing", "/cam/", None, "header", 401, "credentials required"),
        ("WHEP without a token", "/cam/whep", None, "header", 401,
         "credentials required"),
        ("read token on the API", "/v1/paths", hs256, "header", 401,
         "bad token signature"),
        ("API token", "/v1/paths", jwt.hs256(API_SECRET, valid), "header",
         200, ""),
        ("API token on /metrics", "/metrics", jwt.hs256(API_SECRET, valid),
         "query", 200, ""),
        ("API token limited to paths", "/v1/paths",
         jwt.hs256(API_SECRET, dict(valid, paths=["cam"])), "header", 401,
         "token is limited to some paths"),
        ("API token on a path", "/cam/", jwt.hs256(API_SECRET, valid),
         "header", 401, "bad token signature"),
        ("expired API token", "/v1/paths",
         jwt.hs256(API_SECRET, {"exp": now - 120}), "header", 401,
         "token expired"),
        ("no API token", "/v1/paths", None, "header", 401,
         "credentials required"),
    ]
    failures = []
    for what, route, token, where, status, reason in rows:
        headers = {}
        target = route
        if token is not None and where == "header":
            headers["Authorization"] = "Bearer " + token
        elif token is not None:
            target += "?jwt=" + token
        st, hdrs, body = g.http_request("GET", gw.base_url() + target,
                                        headers=headers, timeout=10)
        text = body.decode("utf-8", "replace")
        answer = text + repr(sorted(hdrs.items()))
        problems = []
        if st != status:
            problems.append("status %d, expected %d" % (st, status))
        if reason and reason not in text:
            problems.append("reason %r not in %r" % (reason, text[:200]))
        if status == 401 and "www-authenticate" not in hdrs:
            problems.append("no WWW-Authenticate challenge")
        if token and any(len(part) >= 16 and part in answer
                         for part in token.split(".")):
            problems.append("the answer echoes the token")
        g.log("%-45s %s -> %d %s" % (what, target[:40], st, text[:40]))
        if problems:
            failures.append("%s: %s" % (what, "; ".join(problems)))
    g.check(not failures, "%d of %d rows failed:\n  %s"
            % (len(failures), len(rows), "\n  ".join(failures)))

    # What a user sees: a viewer with an RS256 token in ?jwt= decodes the
    # path, a WHEP offer with an expired one is refused.
    viewer = g.start_gst_viewers(procs, gw.whep_url("cam") + "?jwt=" + rs256)
    g.wait_frames(viewer, 15, 40)
    expired = jwt.hs256(SECRET, {"exp": now - 120})
    st, _, body = g.http_request(
        "POST", gw.whep_url("cam") + "?jwt=" + expired,
        body=gl.STATIC_OFFER, headers={"Content-Type": "application/sdp"},
        timeout=20)
    g.check(st == 401 and b"token expired" in body,
            "a WHEP offer with an expired token got %d %r" % (st, body[:200]))

    # A JWKS file is refused by --check-config with its file and line.
    broken = os.path.join(gw.dir, "broken")
    os.mkdir(broken)
    with open(os.path.join(broken, "keys.json"), "w") as f:
        f.write('{"keys": [{"kty": "EC", "crv": "P-256"}]}\n')
    with open(os.path.join(broken, "x.pipeline"), "w") as f:
        f.write("[path]\nsource=%s\n\nread-jwt-keys=keys.json\n" % url)
    r = subprocess.run([gl.gateway_binary(), "--check-config",
                        "--pipelines", broken], capture_output=True,
                       text=True, timeout=20)
    g.check(r.returncode == 1, "--check-config on a JWKS file exited %d"
            % r.returncode)
    g.check("x.pipeline:4: read-jwt-keys" in r.stderr
            and "only PEM public keys are supported" in r.stderr,
            "no file:line and reason in %r" % r.stderr)

    gw.stop_and_check()


if __name__ == "__main__":
    g.run_test(test, timeout=110)
