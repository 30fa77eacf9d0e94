"""The shared adversarial cases (proto/testdata/event_verification_cases.json) in Python.

Each case is a Kafka record with the JWKS and settings to verify it against; the Python
``EventVerifier`` must end it exactly as Payments does (Rust runs the same file through the
real verifier in shared/event/tests/adversarial.rs): accepted, or refused with the same
reason name.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from zte_client import EventVerificationError, EventVerifier

CASES_PATH = (
    Path(__file__).resolve().parents[3] / "proto" / "testdata" / "event_verification_cases.json"
)
FILE = json.loads(CASES_PATH.read_text(encoding="utf-8"))
CASES = FILE["cases"]


def outcome(case: dict) -> str:
    settings = case["settings"]
    verifier = EventVerifier(
        jwks=case["jwks"],
        issuer=settings["issuer"],
        audience=settings["audience"],
        trusted_producers=tuple(settings["trusted_producers"]),
        allowed_algorithms=tuple(settings["allowed_algs"]),
        leeway_seconds=settings["leeway_seconds"],
        max_record_bytes=settings["max_record_bytes"],
    )
    record = case["record"]
    key = record["key"].encode("utf-8") if record["key"] is not None else None
    value = base64.b64decode(record["value_b64"], validate=True)
    try:
        verified = verifier.verify(key, value, now=settings["now"])
    except EventVerificationError as error:
        return error.reason
    assert verified.order_created.order_transaction_id.encode("utf-8") == key
    return "accepted"


def test_the_file_has_cases_for_every_reason():
    assert len(CASES) >= 18
    assert {c["expect"] for c in CASES} == {"accepted", *FILE["reasons"]}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case_ends_as_payments_says(case):
    assert outcome(case) == case["expect"], case["description"]
