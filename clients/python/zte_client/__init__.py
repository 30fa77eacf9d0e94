"""Python client for the zero-trust order events services.

- ``zte_client.gen``: protobuf/gRPC code generated from ``proto/`` by ``generate.sh``
  (``orders.v1``, ``payments.v1``, ``events.v1``).
- ``password_token``: a user token from the authorization server's token endpoint.
- ``payload_hash`` and ``verify_event``: check an ``EventEnvelope`` the way Payments does —
  hash the payload bytes exactly as received (never re-encode), verify the event token
  (PS256, ``typ`` ``at+jwt``, issuer, audience) against the JWKS, and match its claims.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import jwt
import requests

__all__ = [
    "EVENT_AUDIENCE",
    "ORDER_CREATED_TYPE",
    "EventVerificationError",
    "VerifiedEvent",
    "password_token",
    "payload_hash",
    "verify_event",
]

ORDER_CREATED_TYPE = "events.v1.OrderCreated"
EVENT_AUDIENCE = "payments-service"
EVENT_SCOPE = "trigger_payments"


def payload_hash(payload: bytes) -> str:
    """Lowercase hex SHA-256 of the payload bytes: the ``event_payload_hash`` claim."""
    return hashlib.sha256(payload).hexdigest()


def password_token(
    issuer: str,
    username: str,
    password: str,
    client_id: str = "demo-cli",
    scope: str = "orders payments",
    timeout: float = 10.0,
) -> str:
    """Gets a user access token with the password grant (demo users only)."""
    response = requests.post(
        f"{issuer.rstrip('/')}/token",
        data={
            "grant_type": "password",
            "client_id": client_id,
            "username": username,
            "password": password,
            "scope": scope,
        },
        timeout=timeout,
    )
    response.raise_for_status()
    return response.json()["access_token"]


class EventVerificationError(Exception):
    """The event must not be acted on; the message says which check failed."""


@dataclass(frozen=True)
class VerifiedEvent:
    """An event whose token, hash and claims all checked out."""

    order_created: Any  # zte_client.gen.events.v1.events_pb2.OrderCreated
    claims: dict[str, Any]
    payload_hash: str


def verify_event(
    envelope_bytes: bytes,
    record_key: bytes | None,
    jwks_client: jwt.PyJWKClient,
    issuer: str,
    audience: str = EVENT_AUDIENCE,
) -> VerifiedEvent:
    """Verifies one Kafka record value (an ``events.v1.EventEnvelope``) like Payments does."""
    from zte_client.gen.events.v1 import events_pb2

    envelope = events_pb2.EventEnvelope.FromString(envelope_bytes)
    if envelope.event_type != ORDER_CREATED_TYPE:
        raise EventVerificationError(f"unexpected event_type {envelope.event_type!r}")
    # Hash the bytes exactly as received, before decoding them.
    digest = payload_hash(envelope.payload)

    header = jwt.get_unverified_header(envelope.access_token)
    if header.get("alg") != "PS256" or header.get("typ") != "at+jwt":
        raise EventVerificationError(f"token header not PS256/at+jwt: {header}")
    try:
        key = jwks_client.get_signing_key_from_jwt(envelope.access_token)
        claims = jwt.decode(
            envelope.access_token,
            key.key,
            algorithms=["PS256"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "nbf", "iss", "sub", "aud", "jti"]},
            leeway=30,
        )
    except jwt.PyJWTError as error:
        raise EventVerificationError(f"token rejected: {error}") from error

    if claims.get("event_payload_hash") != digest:
        raise EventVerificationError("event_payload_hash does not match the payload bytes")
    if claims.get("scope") != EVENT_SCOPE:
        raise EventVerificationError(f"scope is {claims.get('scope')!r}, not {EVENT_SCOPE!r}")
    event = events_pb2.OrderCreated.FromString(envelope.payload)
    if claims.get("order_transaction_id") != event.order_transaction_id:
        raise EventVerificationError("order_transaction_id claim does not match the payload")
    if record_key is not None and record_key.decode("utf-8") != event.order_transaction_id:
        raise EventVerificationError("record key does not match the order id")
    if claims.get("sub") != event.user_id:
        raise EventVerificationError("token sub does not match the payload user_id")
    return VerifiedEvent(order_created=event, claims=claims, payload_hash=digest)
