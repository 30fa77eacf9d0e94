-- One row per order: the primary key is the canonical (lowercase, hyphenated) order id, so the
-- database itself refuses a second payment for an order, whichever replica records it.
-- COLLATE "C": keyset pagination compares ids bytewise, as SQLite does.
CREATE TABLE payments (
    order_transaction_id TEXT COLLATE "C" PRIMARY KEY
        CHECK (order_transaction_id = lower(order_transaction_id)),
    user_id              TEXT NOT NULL,
    amount_minor         BIGINT NOT NULL CHECK (amount_minor > 0),
    currency             TEXT NOT NULL,
    order_created_at     BIGINT NOT NULL,
    recorded_at          BIGINT NOT NULL,
    triggered_by         TEXT NOT NULL
);

CREATE INDEX payments_by_user_newest
    ON payments (user_id, recorded_at DESC, order_transaction_id DESC);
