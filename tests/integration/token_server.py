#!/usr/bin/env python3
"""A Docker token (Bearer) authentication server on 127.0.0.1, so integration
tests can put a real docker-registry behind the same kind of auth as Docker
Hub, GHCR and Harbor, and check that our registry client answers
`WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenges.

    token_server.py --dir DIR --port PORT --user USER --password PASSWORD
                    [--realm-path /token]

Creates DIR/key.pem (RSA) and DIR/cert.pem (self-signed, CN feilong-test-token)
unless DIR already holds them, then prints `ready` on stdout once listening.

GET REALM_PATH?service=S&scope=repository:NAME:ACTIONS[&scope=...] follows
https://distribution.github.io/distribution/spec/auth/token/ and answers
{"token", "access_token", "expires_in", "issued_at"} with an RS256 JWT:
  - right Basic credentials: a token granting every requested action;
  - no credentials: a token with an empty access list (the registry then
    refuses with 401), as Docker Hub does for anonymous pulls of private repos;
  - wrong credentials: 401.

The registry (distribution 2.8) needs, in its config.yml:

    auth:
      token:
        realm: http://127.0.0.1:PORT/token
        service: feilong-test-registry     # any name; becomes the JWT's aud
        issuer: feilong-test-issuer        # must equal ISSUER below
        rootcertbundle: DIR/cert.pem

The registry reads cert.pem at startup: start it after this prints `ready`.
"""
import argparse
import base64
import binascii
import http.server
import json
import secrets
import ssl
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ISSUER = "feilong-test-issuer"
TOKEN_LIFETIME = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_or_create_key(directory: Path) -> tuple[Path, str]:
    """Returns the key path and the certificate as base64 DER, for x5c."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    if not (key.exists() and cert.exists()):
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
             "-days", "3650", "-subj", "/CN=feilong-test-token",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True)
    return key, base64.b64encode(ssl.PEM_cert_to_DER_cert(cert.read_text())).decode()


def parse_scopes(values: list[str]) -> list[dict]:
    """Turns scope params into JWT access entries. A param may itself hold
    several space-separated scopes (that is how the registry's challenge lists
    them), and a repository name may contain ':' (host:port/name), so the
    type ends at the first ':' and the actions start after the last."""
    access = []
    for scope in " ".join(values).split():
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if not (kind and name and actions):
            raise ValueError(f"malformed scope {scope!r}")
        access.append({"type": kind, "name": name, "actions": actions.split(",")})
    return access


class TokenHandler(http.server.BaseHTTPRequestHandler):
    server_version = "feilong-test-token"

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != self.server.realm_path:
            return self.reply(404, {"details": "not found"})
        query = parse_qs(url.query)
        service = query.get("service", [""])[0]
        if not service:
            return self.reply(400, {"details": "missing service"})
        try:
            access = parse_scopes(query.get("scope", []))
        except ValueError as e:
            return self.reply(400, {"details": str(e)})
        user = self.authenticated_user()
        if user is None:
            return self.reply(401, {"details": "incorrect username or password"},
                              {"WWW-Authenticate": 'Basic realm="feilong-test-token"'})
        token = self.server.issue(user, service, access if user else [])
        self.reply(200, {
            "token": token,
            # OAuth2 clients read access_token, Docker clients token.
            "access_token": token,
            "expires_in": TOKEN_LIFETIME,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })

    def authenticated_user(self):
        """The user name for right credentials, "" when there are none
        (anonymous), None for wrong or unreadable ones."""
        header = self.headers.get("Authorization")
        if header is None:
            return ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        # Bytes, because compare_digest refuses non-ASCII str.
        ok = (secrets.compare_digest(user.encode(), self.server.user.encode())
              and secrets.compare_digest(password.encode(), self.server.password.encode()))
        return user if ok else None

    def reply(self, status: int, body: dict, headers: dict | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class TokenServer(http.server.ThreadingHTTPServer):
    def __init__(self, args):
        super().__init__(("127.0.0.1", args.port), TokenHandler)
        self.realm_path, self.user, self.password = args.realm_path, args.user, args.password
        self.key, self.cert_der_b64 = load_or_create_key(Path(args.dir))

    def issue(self, user: str, service: str, access: list[dict]) -> str:
        now = int(time.time())
        # distribution 2.8 verifies x5c against rootcertbundle, which spares
        # us its libtrust-specific kid format. It reads aud as a plain
        # string (a list makes the token malformed), treats a missing exp as
        # expired and checks nbf; iat and jti are for other verifiers.
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.cert_der_b64]}
        claims = {"iss": ISSUER, "sub": user, "aud": service, "exp": now + TOKEN_LIFETIME,
                  "nbf": now, "iat": now, "jti": secrets.token_hex(16), "access": access}
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), check=True, capture_output=True).stdout
        return f"{signing_input}.{b64url(signature)}"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True, help="holds key.pem and cert.pem")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--realm-path", default="/token")
    server = TokenServer(parser.parse_args())
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
