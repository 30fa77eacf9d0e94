package io.zte.client;

import java.util.Locale;

/** Why Payments refuses a record: the names of its dead-letter {@code dlq-reason} header. */
public enum Reason {
  OVERSIZED_RECORD,
  MALFORMED_ENVELOPE,
  UNEXPECTED_EVENT_TYPE,
  MALFORMED_TOKEN,
  DISALLOWED_ALGORITHM,
  WRONG_TOKEN_TYPE,
  MISSING_KID,
  UNKNOWN_KEY,
  BAD_SIGNATURE,
  WRONG_ISSUER,
  WRONG_AUDIENCE,
  TOKEN_EXPIRED,
  TOKEN_NOT_YET_VALID,
  INSUFFICIENT_SCOPE,
  UNTRUSTED_PRODUCER,
  PAYLOAD_HASH_MISMATCH,
  MALFORMED_PAYLOAD,
  TRANSACTION_MISMATCH,
  SUBJECT_MISMATCH,
  AMOUNT_MISMATCH;

  /** The stable snake_case name, e.g. {@code bad_signature}. */
  public String reasonName() {
    return name().toLowerCase(Locale.ROOT);
  }

  @Override
  public String toString() {
    return reasonName();
  }
}
