// The shared adversarial cases (proto/testdata/event_verification_cases.json) in TypeScript:
// each case is a Kafka record with the JWKS and settings to verify it against, and
// EventVerifier must end it exactly as Payments does (Rust runs the same file through the real
// verifier): accepted, or refused with the same reason name.
import assert from "node:assert/strict";
import { test } from "node:test";

import { EventRejectedError, EventVerifier, type JwkSet } from "../src/index.js";
import { readTestData } from "./data.js";

interface Case {
  name: string;
  description: string;
  expect: string;
  record: { key: string | null; value_b64: string };
  jwks: JwkSet;
  settings: {
    issuer: string;
    audience: string;
    trusted_producers: string[];
    allowed_algs: string[];
    now: number;
    leeway_seconds: number;
    max_record_bytes: number;
  };
}

const file = readTestData<{ reasons: string[]; cases: Case[] }>("event_verification_cases.json");

async function outcome(c: Case): Promise<string> {
  const s = c.settings;
  const verifier = await EventVerifier.create(c.jwks, {
    issuer: s.issuer,
    audience: s.audience,
    trustedProducers: s.trusted_producers,
    allowedAlgorithms: s.allowed_algs,
    leewaySeconds: s.leeway_seconds,
    maxRecordBytes: s.max_record_bytes,
  });
  const key = c.record.key === null ? null : Buffer.from(c.record.key, "utf8");
  try {
    const event = await verifier.verify(key, Buffer.from(c.record.value_b64, "base64"), s.now);
    assert.equal(event.order.orderTransactionId, c.record.key, "an accepted event is the record key's order");
    return "accepted";
  } catch (error) {
    if (error instanceof EventRejectedError) {
      return error.reason;
    }
    throw error;
  }
}

test("the cases expect accepted and every reason Payments gives", () => {
  assert.ok(file.cases.length >= 18);
  assert.deepEqual(new Set(file.cases.map((c) => c.expect)), new Set(["accepted", ...file.reasons]));
});

for (const c of file.cases) {
  test(`case ${c.name} ends as Payments says`, async () => {
    assert.equal(await outcome(c), c.expect, c.description);
  });
}
