#!/usr/bin/env python3
"""The token server behind CI's `auth: token` registry (see .ci/real-registry).

Answers `GET /token?service=S&scope=repository:NAME:ACTIONS` with the JSON a Docker token
server sends: a JWT (RS256, signed with `openssl dgst`) granting the requested actions to
anyone, as the public Image Factory grants anonymous pulls. The registry trusts the key
through the certificate in its `rootcertbundle`; the token names the key by its libtrust key
ID (`kid`), which is how distribution v2.8 finds it.
"""

import argparse
import base64
import hashlib
import http.server
import json
import secrets
import subprocess
import sys
import time
import urllib.parse


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(key_file: str) -> str:
    """libtrust's key ID: base32 of the first 240 bits of the SHA-256 of the DER public key
    (SubjectPublicKeyInfo), in groups of four separated by colons."""
    der = subprocess.run(
        ["openssl", "pkey", "-in", key_file, "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def sign(key_file: str, message: bytes) -> bytes:
    return subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", key_file],
        input=message,
        check=True,
        capture_output=True,
    ).stdout


def access(scopes: list[str]) -> list[dict]:
    """`repository:metal-installer/abc:pull,push` → the registry's access claim."""
    granted = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind and name:
            granted.append({"type": kind, "name": name, "actions": actions.split(",")})
    return granted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True, help="PEM private key (RSA)")
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--service", required=True)
    args = parser.parse_args()
    key_id = libtrust_key_id(args.key)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            if url.path != "/token" or query.get("service") != [args.service]:
                self.send_error(404, "unknown path or service")
                return
            now = int(time.time())
            header = {"typ": "JWT", "alg": "RS256", "kid": key_id}
            claims = {
                "iss": args.issuer,
                "sub": "",
                "aud": args.service,
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": secrets.token_hex(16),
                "access": access(query.get("scope", [])),
            }
            signing_input = ".".join(
                b64url(json.dumps(part, separators=(",", ":")).encode())
                for part in (header, claims)
            )
            token = signing_input + "." + b64url(sign(args.key, signing_input.encode()))
            body = json.dumps({"token": token, "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *values) -> None:
            sys.stderr.write("token-server: " + format % values + "\n")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
