"""Verify one ``OrderCreated`` Kafka record the way Payments does, with the same reason names.

The checks run in Payments' order (``shared/event/src/verify.rs`` and ``shared/auth``), and
the first failure names the outcome, so every language gives the same reason for the same
record (``proto/testdata/event_verification_cases.json`` proves it case by case):

1. size (``oversized_record``); envelope (``malformed_envelope``, ``unexpected_event_type``);
2. token header, untrusted: ``alg`` on the allow-list before any key lookup
   (``disallowed_algorithm``), no ``crit`` (``malformed_token``), ``typ`` ``at+jwt``
   (``wrong_token_type``), a ``kid`` (``missing_kid``) found in the JWKS (``unknown_key``);
3. signature with that key, which verifies only its own algorithm (``bad_signature``); then
   ``iss`` exact, ``exp``/``nbf`` with leeway, ``aud`` (``wrong_issuer``, ``token_expired``,
   ``token_not_yet_valid``, ``wrong_audience``);
4. scope ``trigger_payments`` and a trusted ``act.sub`` (``insufficient_scope``,
   ``untrusted_producer``);
5. SHA-256 of the payload bytes as received == ``event_payload_hash``
   (``payload_hash_mismatch``), then decode (``malformed_payload``), order id = claim = record
   key (``transaction_mismatch``), ``user_id`` = ``sub`` (``subject_mismatch``), items add up
   to ``total_minor`` without overflow (``amount_mismatch``).

PyJWT does the signature verification; the JWS parsing around it is strict on purpose.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from jwt.algorithms import ECAlgorithm, RSAAlgorithm, RSAPSSAlgorithm
from jwt.exceptions import InvalidKeyError

ORDER_CREATED_TYPE = "events.v1.OrderCreated"
EVENT_AUDIENCE = "payments-service"
EVENT_SCOPE = "trigger_payments"
DEFAULT_PRODUCER = "orders-service"
ALLOWED_ALGORITHMS = ("ES256", "PS256")
MAX_TOKEN_BYTES = 16 * 1024
MAX_RECORD_BYTES = 256 * 1024
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_HEX = "[0-9a-fA-F]"
_HYPHENATED = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
# The forms Payments' UUID parser accepts: simple, hyphenated, braced, URN.
_UUID = re.compile(f"^(?:{_HEX}{{32}}|{_HYPHENATED}|\\{{{_HYPHENATED}\\}}|urn:uuid:{_HYPHENATED})$")

_VERIFIERS = {
    "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
}


class EventVerificationError(Exception):
    """The record must not be acted on. ``reason`` is Payments' dead-letter reason name."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class VerifiedEvent:
    """A record whose token, hash and claims all checked out."""

    order_created: Any  # zte_client.gen.events.v1.events_pb2.OrderCreated
    claims: dict[str, Any]
    payload_hash: str


@dataclass(frozen=True)
class _Key:
    alg: str
    key: Any


def payload_hash(payload: bytes) -> str:
    """Lowercase hex SHA-256 of the payload bytes: the ``event_payload_hash`` claim."""
    return hashlib.sha256(payload).hexdigest()


def _usable_keys(jwks: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, _Key]:
    """The JWKS keys usable for signatures, by kid. Others are skipped, as Payments does:
    no kid, ``use`` other than ``sig``, an ``alg`` not matching the key type, RSA under 2048
    bits, EC on a curve other than P-256, or an algorithm not on the allow-list."""
    keys: dict[str, _Key] = {}
    for jwk in jwks.get("keys", []):
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        kty = jwk.get("kty")
        alg = {"RSA": "PS256", "EC": "ES256"}.get(kty)
        if alg is None or alg not in allowed or jwk.get("alg", alg) != alg:
            continue
        try:
            if kty == "RSA":
                key = RSAAlgorithm.from_jwk(jwk)
                if key.key_size < 2048:
                    continue
            else:
                if jwk.get("crv") != "P-256":
                    continue
                key = ECAlgorithm.from_jwk(jwk)
        except (InvalidKeyError, ValueError, KeyError, TypeError):
            continue
        keys[jwk["kid"]] = _Key(alg=alg, key=key)
    return keys


def _b64url(part: str) -> bytes:
    """Strict unpadded base64url, as RFC 7515 requires."""
    if not _B64URL.match(part) or len(part) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _is_i64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and I64_MIN <= value <= I64_MAX


def _claims_are_well_formed(claims: Any) -> bool:
    """The claim set Payments deserializes: required members with their JSON types."""
    if not isinstance(claims, dict):
        return False
    if not all(isinstance(claims.get(k), str) for k in ("iss", "sub", "jti", "scope", "client_id")):
        return False
    if not all(_is_i64(claims.get(k)) for k in ("exp", "nbf", "iat")):
        return False
    aud = claims.get("aud")
    if not (isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))):
        return False
    act = claims.get("act")
    if act is not None and not (isinstance(act, dict) and isinstance(act.get("sub"), str)):
        return False
    return all(
        claims.get(k) is None or isinstance(claims.get(k), str)
        for k in ("order_transaction_id", "event_payload_hash")
    )


def _audiences(aud: str | list[str]) -> list[str]:
    return [aud] if isinstance(aud, str) else aud


def _items_total(items: Any) -> int | None:
    """Sum of quantity * unit price in int64, or None on overflow or a negative price."""
    total = 0
    for item in items:
        if item.unit_price_minor < 0:
            return None
        total += item.quantity * item.unit_price_minor
        if total > I64_MAX:
            return None
    return total


@dataclass
class EventVerifier:
    """Payments' checks for one record, against a fixed JWKS (a JSON Web Key Set as a dict)."""

    jwks: dict[str, Any]
    issuer: str
    audience: str = EVENT_AUDIENCE
    trusted_producers: tuple[str, ...] = (DEFAULT_PRODUCER,)
    allowed_algorithms: tuple[str, ...] = ALLOWED_ALGORITHMS
    leeway_seconds: int = 5
    max_record_bytes: int = MAX_RECORD_BYTES
    _keys: dict[str, _Key] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._keys = _usable_keys(self.jwks, tuple(self.allowed_algorithms))

    def verify(self, key: bytes | None, value: bytes | None, now: int | None = None) -> VerifiedEvent:
        """Runs every check on one record (``key`` and ``value`` as received)."""
        from zte_client.gen.events.v1 import events_pb2
        from google.protobuf.message import DecodeError

        value = value or b""
        if len(value) + len(key or b"") > self.max_record_bytes:
            raise EventVerificationError("oversized_record", f"{len(value)} bytes")
        if not value:
            raise EventVerificationError("malformed_envelope", "empty record value")
        try:
            envelope = events_pb2.EventEnvelope.FromString(value)
        except DecodeError as error:
            raise EventVerificationError("malformed_envelope", str(error)) from error
        if envelope.event_type != ORDER_CREATED_TYPE:
            raise EventVerificationError("unexpected_event_type", envelope.event_type[:80])

        claims = self.validate_token(envelope.access_token, int(time.time()) if now is None else now)
        if EVENT_SCOPE not in claims["scope"].split(" "):
            raise EventVerificationError("insufficient_scope")
        actor = (claims.get("act") or {}).get("sub")
        if actor not in self.trusted_producers:
            raise EventVerificationError("untrusted_producer", f"act.sub {actor!r}")

        # Hash the bytes exactly as received, before decoding them.
        digest = payload_hash(envelope.payload)
        if not hmac.compare_digest(digest, claims.get("event_payload_hash") or ""):
            raise EventVerificationError("payload_hash_mismatch")
        try:
            event = events_pb2.OrderCreated.FromString(envelope.payload)
        except DecodeError as error:
            raise EventVerificationError("malformed_payload", str(error)) from error
        order_id = event.order_transaction_id
        if not _UUID.match(order_id):
            raise EventVerificationError("malformed_payload", "order_transaction_id is not a UUID")
        if claims.get("order_transaction_id") != order_id:
            raise EventVerificationError("transaction_mismatch", "payload and token claim differ")
        if key != order_id.encode("utf-8"):
            raise EventVerificationError("transaction_mismatch", "payload and record key differ")
        if event.user_id != claims["sub"]:
            raise EventVerificationError("subject_mismatch")
        if not event.items or event.total_minor <= 0 or _items_total(event.items) != event.total_minor:
            raise EventVerificationError("amount_mismatch")
        return VerifiedEvent(order_created=event, claims=claims, payload_hash=digest)

    def validate_token(self, token: str, now: int) -> dict[str, Any]:
        """Header, key, signature, issuer, lifetime and audience of an access token."""
        if len(token.encode("utf-8")) > MAX_TOKEN_BYTES:
            raise EventVerificationError("malformed_token", "too long")
        parts = token.split(".")
        if len(parts) != 3:
            raise EventVerificationError("malformed_token", "not three dot-separated parts")
        try:
            header = json.loads(_b64url(parts[0]))
        except (ValueError, binascii.Error) as error:
            raise EventVerificationError("malformed_token", "header is not base64url JSON") from error
        if (
            not isinstance(header, dict)
            or not isinstance(header.get("alg"), str)
            or any(header.get(k) is not None and not isinstance(header[k], str) for k in ("typ", "kid"))
        ):
            raise EventVerificationError("malformed_token", "header is not a JSON object with an alg")
        alg = header["alg"]
        if alg not in self.allowed_algorithms:
            raise EventVerificationError("disallowed_algorithm", alg)
        if header.get("crit") is not None:
            raise EventVerificationError("malformed_token", "unsupported crit header")
        typ = header.get("typ") or ""
        if typ.lower() not in ("at+jwt", "application/at+jwt"):
            raise EventVerificationError("wrong_token_type", typ)
        kid = header.get("kid")
        if kid is None:
            raise EventVerificationError("missing_kid")
        key = self._keys.get(kid)
        if key is None:
            raise EventVerificationError("unknown_key", kid)
        try:
            signature = _b64url(parts[2])
        except (ValueError, binascii.Error) as error:
            raise EventVerificationError("malformed_token", "signature is not base64url") from error
        signing_input = f"{parts[0]}.{parts[1]}".encode("utf-8")
        if key.alg != alg or not _VERIFIERS[alg].verify(signing_input, key.key, signature):
            raise EventVerificationError("bad_signature")
        try:
            claims = json.loads(_b64url(parts[1]))
        except (ValueError, binascii.Error) as error:
            raise EventVerificationError("malformed_token", "claims are not base64url JSON") from error
        if not _claims_are_well_formed(claims):
            raise EventVerificationError("malformed_token", "claims lack a required member")
        if claims["iss"] != self.issuer:
            raise EventVerificationError("wrong_issuer", claims["iss"])
        if now > claims["exp"] + self.leeway_seconds:
            raise EventVerificationError("token_expired")
        if now + self.leeway_seconds < claims["nbf"]:
            raise EventVerificationError("token_not_yet_valid")
        if self.audience not in _audiences(claims["aud"]):
            raise EventVerificationError("wrong_audience")
        return claims
