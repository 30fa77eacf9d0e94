-- One row per order: the primary key is the canonical (lowercase, hyphenated) order id, so the
-- database itself refuses a second payment for an order.
CREATE TABLE payments (
    order_transaction_id TEXT PRIMARY KEY NOT NULL
        CHECK (order_transaction_id = lower(order_transaction_id)),
    user_id              TEXT NOT NULL,
    amount_minor         INTEGER NOT NULL CHECK (amount_minor > 0),
    currency             TEXT NOT NULL,
    order_created_at     INTEGER NOT NULL,
    recorded_at          INTEGER NOT NULL,
    triggered_by         TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX payments_by_user_newest
    ON payments (user_id, recorded_at DESC, order_transaction_id DESC);
