// verifyEvent checks one OrderCreated Kafka record the way Payments does, in Payments' order,
// and names the first failure with Payments' reason (its dead-letter header), so every
// language gives the same answer for the same record (proto/testdata/
// event_verification_cases.json proves it case by case):
//
// 1. size (oversized_record); envelope (malformed_envelope, unexpected_event_type);
// 2. token header, untrusted: alg on the allow-list before any key lookup
//    (disallowed_algorithm), no crit (malformed_token), typ at+jwt (wrong_token_type), a kid
//    (missing_kid) found in the JWKS (unknown_key);
// 3. signature with that key, which verifies only its own algorithm (bad_signature); iss
//    exact, exp/nbf with leeway, aud (wrong_issuer, token_expired, token_not_yet_valid,
//    wrong_audience);
// 4. scope trigger_payments, a trusted act.sub (insufficient_scope, untrusted_producer);
// 5. SHA-256 of the payload bytes as received = event_payload_hash (payload_hash_mismatch),
//    decode (malformed_payload), order id = claim = record key (transaction_mismatch),
//    user_id = sub (subject_mismatch), items add up without overflow (amount_mismatch).
//
// jose verifies the signatures; the JWS parsing around it is strict on purpose.

import { createHash, timingSafeEqual } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { compactVerify, importJWK, type JWK } from "jose";

import {
  EventEnvelopeSchema,
  type OrderCreated,
  OrderCreatedSchema,
  type OrderItem,
} from "./gen/events/v1/events_pb.js";

export const ORDER_CREATED_TYPE = "events.v1.OrderCreated";
export const EVENT_SCOPE = "trigger_payments";
/** The signature allow-list: ES256 and PS256, nothing else. */
export const DEFAULT_ALLOWED_ALGORITHMS: readonly string[] = ["ES256", "PS256"];
const MAX_TOKEN_BYTES = 16 * 1024;
const I64_MAX = (1n << 63n) - 1n;

/** Payments' reason names (the `dlq-reason` header). */
export type Reason =
  | "oversized_record"
  | "malformed_envelope"
  | "unexpected_event_type"
  | "malformed_token"
  | "disallowed_algorithm"
  | "wrong_token_type"
  | "missing_kid"
  | "unknown_key"
  | "bad_signature"
  | "wrong_issuer"
  | "wrong_audience"
  | "token_expired"
  | "token_not_yet_valid"
  | "insufficient_scope"
  | "untrusted_producer"
  | "payload_hash_mismatch"
  | "malformed_payload"
  | "transaction_mismatch"
  | "subject_mismatch"
  | "amount_mismatch";

/** The record must not be acted on; `reason` is the reason Payments would give. */
export class EventRejectedError extends Error {
  constructor(
    readonly reason: Reason,
    readonly detail = "",
  ) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.name = "EventRejectedError";
  }
}

/** What records are checked against. */
export interface VerifierSettings {
  /** Exact expected `iss`. */
  issuer: string;
  /** Audience that `aud` must contain. Default `payments-service`. */
  audience?: string;
  /** Client ids allowed as `act.sub`. Default `["orders-service"]`. */
  trustedProducers?: readonly string[];
  /** The signature allow-list. Default ES256 and PS256. */
  allowedAlgorithms?: readonly string[];
  /** Clock skew allowed on `exp` and `nbf`, in seconds. Default 5. */
  leewaySeconds?: number;
  /** Largest key + value accepted, in bytes. Default 256 KiB. */
  maxRecordBytes?: number;
}

/** A record whose token, hash and claims all checked out. */
export interface VerifiedEvent {
  order: OrderCreated;
  claims: Record<string, unknown>;
  payloadHash: string;
}

interface UsableKey {
  alg: string;
  key: CryptoKey | Uint8Array;
}

/** A JWK Set (RFC 7517 §5). */
export interface JwkSet {
  keys: JWK[];
}

const HYPHENATED = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
/** The forms Payments' UUID parser accepts: simple, hyphenated, braced, URN. */
const UUID = new RegExp(`^(?:[0-9a-fA-F]{32}|${HYPHENATED}|\\{${HYPHENATED}\\}|urn:uuid:${HYPHENATED})$`);
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Lowercase hex SHA-256 of the payload bytes: the `event_payload_hash` claim. */
export function payloadHash(payload: Uint8Array): string {
  return createHash("sha256").update(payload).digest("hex");
}

function reject(reason: Reason, detail = ""): never {
  throw new EventRejectedError(reason, detail);
}

/** Strict unpadded base64url, as RFC 7515 requires. */
function base64url(part: string): Buffer {
  if (!BASE64URL.test(part) || part.length % 4 === 1) {
    throw new Error("not base64url");
  }
  return Buffer.from(part, "base64url");
}

function parseJsonObject(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(base64url(part).toString("utf8"));
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const isOptionalString = (value: unknown) => value === undefined || value === null || typeof value === "string";

/** The claim set Payments deserializes: required members with their JSON types. */
function claimsAreWellFormed(claims: Record<string, unknown>): boolean {
  const { aud, act } = claims;
  return (
    ["iss", "sub", "jti", "scope", "client_id"].every((name) => typeof claims[name] === "string") &&
    ["exp", "nbf", "iat"].every((name) => Number.isInteger(claims[name])) &&
    (typeof aud === "string" || (Array.isArray(aud) && aud.every((a) => typeof a === "string"))) &&
    (act === undefined ||
      act === null ||
      (typeof act === "object" && typeof (act as Record<string, unknown>).sub === "string")) &&
    isOptionalString(claims.order_transaction_id) &&
    isOptionalString(claims.event_payload_hash)
  );
}

/** Sum of quantity * unit price in int64; undefined on overflow or a negative price. */
function itemsTotal(items: OrderItem[]): bigint | undefined {
  let total = 0n;
  for (const item of items) {
    if (item.unitPriceMinor < 0n) {
      return undefined;
    }
    total += BigInt(item.quantity) * item.unitPriceMinor;
    if (total > I64_MAX) {
      return undefined;
    }
  }
  return total;
}

/** Verifies records against a fixed JWK Set. Build it with {@link EventVerifier.create}. */
export class EventVerifier {
  private constructor(
    private readonly settings: Required<VerifierSettings>,
    private readonly keys: ReadonlyMap<string, UsableKey>,
  ) {}

  /**
   * A verifier for the keys of `jwks` usable for signatures, as Payments keeps them: keys
   * without a kid, with a `use` other than `sig`, an `alg` not matching the key type, RSA under
   * 2048 bits, EC on a curve other than P-256, or an algorithm off the allow-list are skipped.
   */
  static async create(jwks: JwkSet, settings: VerifierSettings): Promise<EventVerifier> {
    const full: Required<VerifierSettings> = {
      audience: "payments-service",
      trustedProducers: ["orders-service"],
      allowedAlgorithms: DEFAULT_ALLOWED_ALGORITHMS,
      leewaySeconds: 5,
      maxRecordBytes: 256 * 1024,
      ...settings,
    };
    const keys = new Map<string, UsableKey>();
    for (const jwk of jwks.keys ?? []) {
      if (typeof jwk.kid !== "string" || (jwk.use !== undefined && jwk.use !== "sig")) {
        continue;
      }
      const alg = jwk.kty === "RSA" ? "PS256" : jwk.kty === "EC" && jwk.crv === "P-256" ? "ES256" : undefined;
      if (alg === undefined || (jwk.alg !== undefined && jwk.alg !== alg) || !full.allowedAlgorithms.includes(alg)) {
        continue;
      }
      try {
        const key = await importJWK(jwk, alg);
        const bits = key instanceof Uint8Array ? 0 : (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
        if (alg === "PS256" && !(bits >= 2048)) {
          continue;
        }
        keys.set(jwk.kid, { alg, key });
      } catch {
        // An unusable key is skipped like any other.
      }
    }
    return new EventVerifier(full, keys);
  }

  /**
   * Runs every check on one record (`key` and `value` as received; `null` for a record without
   * a key) at `now` (Unix seconds, default the current time).
   */
  async verify(
    key: Uint8Array | null,
    value: Uint8Array | null,
    now = Math.floor(Date.now() / 1000),
  ): Promise<VerifiedEvent> {
    const bytes = value ?? new Uint8Array();
    const size = bytes.length + (key?.length ?? 0);
    if (size > this.settings.maxRecordBytes) {
      reject("oversized_record", `${size} bytes`);
    }
    if (bytes.length === 0) {
      reject("malformed_envelope", "empty record value");
    }
    let envelope;
    try {
      envelope = fromBinary(EventEnvelopeSchema, bytes);
    } catch (error) {
      reject("malformed_envelope", String(error));
    }
    if (envelope.eventType !== ORDER_CREATED_TYPE) {
      reject("unexpected_event_type", envelope.eventType.slice(0, 80));
    }
    const claims = await this.validateToken(envelope.accessToken, now);
    if (!(claims.scope as string).split(" ").includes(EVENT_SCOPE)) {
      reject("insufficient_scope");
    }
    const actor = (claims.act as { sub?: unknown } | null | undefined)?.sub;
    if (typeof actor !== "string" || !this.settings.trustedProducers.includes(actor)) {
      reject("untrusted_producer");
    }
    // Hash the bytes exactly as received, before decoding them.
    const digest = payloadHash(envelope.payload);
    const claimed = Buffer.from((claims.event_payload_hash as string | null | undefined) ?? "");
    if (claimed.length !== digest.length || !timingSafeEqual(Buffer.from(digest), claimed)) {
      reject("payload_hash_mismatch");
    }
    let order: OrderCreated;
    try {
      order = fromBinary(OrderCreatedSchema, envelope.payload);
    } catch (error) {
      reject("malformed_payload", String(error));
    }
    const id = order.orderTransactionId;
    if (!UUID.test(id)) {
      reject("malformed_payload", "order_transaction_id is not a UUID");
    }
    if (claims.order_transaction_id !== id) {
      reject("transaction_mismatch", "payload and token claim differ");
    }
    if (key === null || !Buffer.from(key).equals(Buffer.from(id, "utf8"))) {
      reject("transaction_mismatch", "payload and record key differ");
    }
    if (order.userId !== claims.sub) {
      reject("subject_mismatch");
    }
    if (order.items.length === 0 || order.totalMinor <= 0n || itemsTotal(order.items) !== order.totalMinor) {
      reject("amount_mismatch");
    }
    return { order, claims, payloadHash: digest };
  }

  /** Checks an access token's header, key, signature, issuer, lifetime and audience. */
  async validateToken(token: string, now: number): Promise<Record<string, unknown>> {
    if (Buffer.byteLength(token, "utf8") > MAX_TOKEN_BYTES) {
      reject("malformed_token", "too long");
    }
    const parts = token.split(".");
    if (parts.length !== 3) {
      reject("malformed_token", "not three dot-separated parts");
    }
    const header = parseJsonObject(parts[0]);
    if (header === undefined || typeof header.alg !== "string" || !isOptionalString(header.typ) || !isOptionalString(header.kid)) {
      reject("malformed_token", "header is not a JSON object with an alg");
    }
    const alg = header.alg as string;
    if (!this.settings.allowedAlgorithms.includes(alg)) {
      reject("disallowed_algorithm", alg);
    }
    if (header.crit !== undefined && header.crit !== null) {
      reject("malformed_token", "unsupported crit header");
    }
    const typ = typeof header.typ === "string" ? header.typ.toLowerCase() : "";
    if (typ !== "at+jwt" && typ !== "application/at+jwt") {
      reject("wrong_token_type", typ);
    }
    if (typeof header.kid !== "string") {
      reject("missing_kid");
    }
    const key = this.keys.get(header.kid);
    if (key === undefined) {
      reject("unknown_key", header.kid);
    }
    if (key.alg !== alg) {
      reject("bad_signature", `the key is for ${key.alg}`);
    }
    try {
      base64url(parts[2]);
    } catch {
      reject("malformed_token", "signature is not base64url");
    }
    try {
      await compactVerify(token, key.key, { algorithms: [alg] });
    } catch {
      reject("bad_signature");
    }
    const claims = parseJsonObject(parts[1]);
    if (claims === undefined || !claimsAreWellFormed(claims)) {
      reject("malformed_token", "claims lack a required member");
    }
    const leeway = this.settings.leewaySeconds;
    if (claims.iss !== this.settings.issuer) {
      reject("wrong_issuer", String(claims.iss));
    }
    if (now > (claims.exp as number) + leeway) {
      reject("token_expired");
    }
    if (now + leeway < (claims.nbf as number)) {
      reject("token_not_yet_valid");
    }
    const aud = claims.aud as string | string[];
    if (!(typeof aud === "string" ? [aud] : aud).includes(this.settings.audience)) {
      reject("wrong_audience");
    }
    return claims;
  }
}

/** Verifies one record against `jwks` with `settings` (see {@link EventVerifier}). */
export async function verifyEvent(
  key: Uint8Array | null,
  value: Uint8Array | null,
  jwks: JwkSet,
  settings: VerifierSettings,
  now?: number,
): Promise<VerifiedEvent> {
  const verifier = await EventVerifier.create(jwks, settings);
  return verifier.verify(key, value, now);
}
