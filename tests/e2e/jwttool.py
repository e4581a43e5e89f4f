"""JSON Web Tokens for the tests, made without the gateway's library: HS256
with the standard library, RS256/ES256 keys and signatures with the openssl
command."""

import base64
import hashlib
import hmac
import json
import os
import subprocess


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signing_input(alg, claims):
    header = {"alg": alg, "typ": "JWT"}
    return (b64url(json.dumps(header).encode()) + "." +
            b64url(json.dumps(claims).encode()))


def hs256(secret, claims):
    head = _signing_input("HS256", claims)
    sig = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + b64url(sig)


def unsigned(claims):
    """An "alg": "none" token (empty signature)."""
    return _signing_input("none", claims) + "."


def make_keys(directory):
    """Makes an RSA 2048 and an EC P-256 key pair in @directory; returns
    {"rsa": (private, public), "ec": (private, public)} file names."""
    out = {}
    for kind, args in (("rsa", ["genpkey", "-algorithm", "RSA",
                                "-pkeyopt", "rsa_keygen_bits:2048"]),
                       ("ec", ["genpkey", "-algorithm", "EC",
                               "-pkeyopt", "ec_paramgen_curve:P-256"])):
        priv = os.path.join(directory, kind + "-private.pem")
        pub = os.path.join(directory, kind + "-public.pem")
        subprocess.run(["openssl"] + args + ["-out", priv], check=True,
                       capture_output=True, timeout=60)
        subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out", pub],
                       check=True, capture_output=True, timeout=60)
        out[kind] = (priv, pub)
    return out


def _der_ecdsa_to_raw(der):
    """ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs) to JWS R||S, 32 bytes
    each (RFC 7518, 3.4)."""
    assert der[0] == 0x30
    pos = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    parts = []
    for _ in range(2):
        assert der[pos] == 0x02
        n = der[pos + 1]
        value = der[pos + 2:pos + 2 + n].lstrip(b"\0")
        parts.append(value.rjust(32, b"\0"))
        pos += 2 + n
    return parts[0] + parts[1]


def openssl_signed(alg, private_key, claims):
    """An RS256 or ES256 token signed by `openssl dgst`."""
    head = _signing_input(alg, claims)
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", private_key],
                         input=head.encode(), check=True, capture_output=True,
                         timeout=60).stdout
    if alg == "ES256":
        sig = _der_ecdsa_to_raw(sig)
    return head + "." + b64url(sig)
