-- Orders and their outbox, in one table: a row is written `pending` (durably) before its
-- event is published, `published` once Kafka acknowledged it (only then visible), `failed`
-- when the event was certainly not sent and the caller was told so.
CREATE TABLE orders (
    seq                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_transaction_id TEXT NOT NULL UNIQUE,
    user_id              TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    -- SHA-256 of the canonical request body: the same request id with another body is refused.
    request_hash         BYTEA NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('pending', 'published', 'failed')),
    order_message        BYTEA NOT NULL,
    event_payload        BYTEA NOT NULL,
    event_token          TEXT NOT NULL,
    -- The replica sending the event now, until when (Unix ms); a pending row whose lease has
    -- passed is the outbox relay's (claimed with FOR UPDATE SKIP LOCKED).
    lease_owner          TEXT,
    lease_until          BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

-- One order per (user, request id): retries on any replica meet here.
CREATE UNIQUE INDEX orders_by_user_request ON orders (user_id, request_id);
CREATE INDEX orders_by_user_seq ON orders (user_id, seq);
CREATE INDEX orders_outbox ON orders (lease_until, seq) WHERE status = 'pending';
