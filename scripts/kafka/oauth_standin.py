"""A stand-in OAuth issuer for checking the secure Kafka broker, and nothing else.

It has no client authentication at all: anyone who can run it mints any token. The real
Identity service replaces it; it exists so that the broker's token validation can be proven
before Identity issues Kafka service tokens. It serves, over HTTPS with a certificate from
the local PKI (scripts/pki.sh), a JWKS and RFC 8414 metadata, and mints ES256 `at+jwt`
access tokens (RFC 9068 claims: iss, sub, aud, exp, nbf, iat, jti, scope, client_id).

  oauth_standin.py serve --state DIR --cert CRT --key KEY [--host 127.0.0.1] [--port 0]
      Listens (port 0: a free one), then writes DIR/issuer (the issuer URL, JWKS at
      <issuer>/jwks) and serves until SIGTERM.
  oauth_standin.py mint --state DIR --sub orders-service [--aud kafka] [--lifetime 300]
      [--forged] [--issuer URL]
      Prints a token. A negative lifetime gives a token that expired that long ago; --forged
      signs with a fresh key of the same type under the JWKS's `kid` (what an attacker who
      read the JWKS can do).

The signing key (P-256, PKCS#8 PEM, mode 0600) and its kid live in DIR and are created on
first use, so `serve` and `mint` (or several processes) share them.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import ssl
import sys
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEY_FILE = "signing-key.pem"
KID_FILE = "kid"
ISSUER_FILE = "issuer"


@dataclass
class Issuer:
    """The stand-in's signing key and identity, kept in a state directory."""

    state: Path
    key: ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def load(cls, state: Path) -> Issuer:
        """Loads the key from `state`, creating it (owner-only) on first use."""
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_path, kid_path = state / KEY_FILE, state / KID_FILE
        # `serve` and `mint` may start at once: one of them creates the key.
        with open(state / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not key_path.exists():
                pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(pem)
                kid_path.write_text(f"standin-{uuid.uuid4().hex[:12]}\n")
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SystemExit(f"{key_path}: not an EC key")
        return cls(state, key, kid_path.read_text().strip())

    def jwks(self) -> dict:
        """The public key as an RFC 7517 key set (with `alg` and `use`)."""
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        return {"keys": [jwk]}

    def issuer_url(self) -> str:
        """The issuer URL `serve` wrote (so `mint` uses the same `iss`)."""
        path = self.state / ISSUER_FILE
        if not path.exists():
            raise SystemExit(f"{path} missing: start `oauth_standin.py serve` first or pass --issuer")
        return path.read_text().strip()

    def mint(
        self,
        sub: str,
        aud: str = "kafka",
        lifetime: int = 300,
        *,
        issuer: str | None = None,
        forged: bool = False,
        scope: str = "kafka",
    ) -> str:
        """An ES256 `at+jwt` access token for client `sub`.

        `lifetime` < 0: the token expired -lifetime seconds ago. `forged`: signed by a fresh
        key under this issuer's kid, so only the signature is wrong.
        """
        now = int(time.time())
        exp = now + lifetime
        iat = min(now, exp - 300)
        claims = {
            "iss": issuer or self.issuer_url(),
            "sub": sub,
            "aud": aud,
            "exp": exp,
            "nbf": iat,
            "iat": iat,
            "jti": uuid.uuid4().hex,
            "scope": scope,
            "client_id": sub,
        }
        key = ec.generate_private_key(ec.SECP256R1()) if forged else self.key
        headers = {"typ": "at+jwt", "kid": self.kid}
        return jwt.encode(claims, key, algorithm="ES256", headers=headers)


def serve(args: argparse.Namespace) -> None:
    issuer = Issuer.load(Path(args.state))
    body = json.dumps(issuer.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/jwks":
                payload, ctype = body, "application/jwk-set+json"
            elif self.path == "/.well-known/oauth-authorization-server":
                payload = json.dumps(
                    {"issuer": base, "jwks_uri": f"{base}/jwks", "token_endpoint": f"{base}/token"}
                ).encode()
                ctype = "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, fmt: str, *fmt_args: object) -> None:
            sys.stderr.write(f"oauth-standin: {self.address_string()} {fmt % fmt_args}\n")

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    host = f"[{args.host}]" if ":" in args.host else args.host
    base = f"https://{host}:{server.server_address[1]}"
    (issuer.state / ISSUER_FILE).write_text(base + "\n")
    print(f"oauth-standin: issuer {base}, JWKS {base}/jwks, kid {issuer.kid}", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        (issuer.state / ISSUER_FILE).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve")
    p_serve.add_argument("--state", required=True)
    p_serve.add_argument("--cert", required=True)
    p_serve.add_argument("--key", required=True)
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=0)
    p_mint = sub.add_parser("mint")
    p_mint.add_argument("--state", required=True)
    p_mint.add_argument("--sub", required=True)
    p_mint.add_argument("--aud", default="kafka")
    p_mint.add_argument("--lifetime", type=int, default=300)
    p_mint.add_argument("--issuer")
    p_mint.add_argument("--forged", action="store_true")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args)
    else:
        issuer = Issuer.load(Path(args.state))
        print(issuer.mint(args.sub, args.aud, args.lifetime, issuer=args.issuer, forged=args.forged))


if __name__ == "__main__":
    main()
