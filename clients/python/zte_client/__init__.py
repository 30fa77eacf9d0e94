"""Python client for the zero-trust order events services.

- ``zte_client.gen``: protobuf/gRPC code generated from ``proto/`` by ``generate.sh``
  (``orders.v1``, ``payments.v1``, ``events.v1``).
- ``password_token``: a user token from the authorization server's token endpoint.
- ``payload_hash``, ``EventVerifier`` and ``verify_event``: check a Kafka record the way
  Payments does, with its reason names — hash the payload bytes exactly as received (never
  re-encode), verify the event token (ES256 or PS256, ``typ`` ``at+jwt``, issuer, audience,
  scope, trusted producer) against the JWKS, and match its claims (see ``event_verifier``).
"""

from __future__ import annotations

import requests

from zte_client.event_verifier import (
    EVENT_AUDIENCE,
    ORDER_CREATED_TYPE,
    EventVerificationError,
    EventVerifier,
    VerifiedEvent,
    payload_hash,
)

__all__ = [
    "EVENT_AUDIENCE",
    "ORDER_CREATED_TYPE",
    "EventVerificationError",
    "EventVerifier",
    "VerifiedEvent",
    "fetch_jwks",
    "password_token",
    "payload_hash",
    "verify_event",
]


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


def fetch_jwks(issuer: str, timeout: float = 10.0) -> dict:
    """The authorization server's JWK Set (``{issuer}/jwks``) as a dict."""
    response = requests.get(f"{issuer.rstrip('/')}/jwks", timeout=timeout)
    response.raise_for_status()
    return response.json()


def verify_event(
    envelope_bytes: bytes,
    record_key: bytes | None,
    jwks: dict,
    issuer: str,
    audience: str = EVENT_AUDIENCE,
) -> VerifiedEvent:
    """Verifies one Kafka record (key and ``events.v1.EventEnvelope`` value) like Payments does;
    raises ``EventVerificationError`` whose ``reason`` is Payments' reason name."""
    return EventVerifier(jwks=jwks, issuer=issuer, audience=audience).verify(record_key, envelope_bytes)
