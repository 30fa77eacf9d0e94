//! Generates `proto/testdata/order_created_vectors.json`: `events.v1.OrderCreated` values with
//! their exact protobuf encoding and its SHA-256 (the `event_payload_hash` claim).
//!
//! Every client language checks these vectors byte for byte (Rust in
//! `shared/event/tests/vectors.rs`, Python and Go in `clients/`), which is what proves the hash
//! does not depend on one serializer. Regenerate (only when adding a vector; existing ones must
//! never change) with:
//!
//! ```sh
//! cargo run -q -p zte-event --example gen_vectors > proto/testdata/order_created_vectors.json
//! ```
//!
//! JSON conventions: 64-bit integers (`seconds`, `unit_price_minor`, `total_minor`) are decimal
//! strings, as in the proto3 JSON mapping, so no language loses precision; a missing
//! `created_at` key means the field is absent (not the zero timestamp).

use prost_types::Timestamp;
use serde::Serialize;
use zte_proto::events::v1::{OrderCreated, OrderItem};

#[derive(Serialize)]
struct VectorFile {
    description: &'static str,
    message: &'static str,
    vectors: Vec<Vector>,
}

#[derive(Serialize)]
struct Vector {
    name: &'static str,
    description: &'static str,
    fields: Fields,
    encoded_hex: String,
    sha256: String,
}

#[derive(Serialize)]
struct Fields {
    order_transaction_id: String,
    user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<TimestampFields>,
    items: Vec<ItemFields>,
    currency: String,
    total_minor: String,
}

#[derive(Serialize)]
struct TimestampFields {
    seconds: String,
    nanos: i32,
}

#[derive(Serialize)]
struct ItemFields {
    sku: String,
    quantity: u32,
    unit_price_minor: String,
}

fn fields(event: &OrderCreated) -> Fields {
    Fields {
        order_transaction_id: event.order_transaction_id.clone(),
        user_id: event.user_id.clone(),
        created_at: event.created_at.map(|t| TimestampFields {
            seconds: t.seconds.to_string(),
            nanos: t.nanos,
        }),
        items: event
            .items
            .iter()
            .map(|i| ItemFields {
                sku: i.sku.clone(),
                quantity: i.quantity,
                unit_price_minor: i.unit_price_minor.to_string(),
            })
            .collect(),
        currency: event.currency.clone(),
        total_minor: event.total_minor.to_string(),
    }
}

fn item(sku: &str, quantity: u32, unit_price_minor: i64) -> OrderItem {
    OrderItem {
        sku: sku.to_owned(),
        quantity,
        unit_price_minor,
    }
}

fn at(seconds: i64, nanos: i32) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos })
}

/// One vector: the event's fields, its total computed from the items. Each vector names
/// itself and its order id, and changes `usual()` where it is about something else.
struct Spec {
    name: &'static str,
    description: &'static str,
    id: &'static str,
    user: &'static str,
    created_at: Option<Timestamp>,
    items: Vec<OrderItem>,
    currency: &'static str,
}

impl Spec {
    /// demouser buys one SKU-1 at 0.01 EUR, with no created_at.
    fn usual() -> Self {
        Self {
            name: "",
            description: "",
            id: "",
            user: "demouser",
            created_at: None,
            items: vec![item("SKU-1", 1, 1)],
            currency: "EUR",
        }
    }

    /// The event (an item total that overflows is a bug in the vector).
    fn event(self) -> OrderCreated {
        let total_minor = zte_event::total_minor(&self.items).unwrap_or_else(|| {
            panic!("vector {}: item total overflows i64", self.name);
        });
        OrderCreated {
            order_transaction_id: self.id.to_owned(),
            user_id: self.user.to_owned(),
            created_at: self.created_at,
            items: self.items,
            currency: self.currency.to_owned(),
            total_minor,
        }
    }
}

fn vectors() -> Vec<Spec> {
    let many_items = (1..=100u32)
        .map(|i| item(&format!("SKU-{i:03}"), i, i64::from(i) * 101))
        .collect();
    vec![
        Spec {
            name: "single_item_zero_nanos",
            description: "One item; created_at with whole seconds (nanos = 0, so the nanos field is omitted).",
            id: "0b6f1c1e-4e0e-4d59-9a53-2c2b8f0b7f43",
            created_at: at(1_700_000_000, 0),
            items: vec![item("SKU-1", 2, 1250)],
            ..Spec::usual()
        },
        Spec {
            name: "nonzero_nanos_three_items",
            description: "Three items; created_at with non-zero nanos.",
            id: "7d0c3a52-9a9e-4f0b-8f3e-6f1b2d4c5a69",
            user: "demouser2",
            created_at: at(1_767_225_600, 123_456_789),
            items: vec![
                item("BOOK-978-0131103627", 1, 4599),
                item("PEN-BLUE", 10, 99),
                item("MUG", 3, 1500),
            ],
            currency: "USD",
        },
        Spec {
            name: "many_items_100",
            description: "100 items (SKU-001..SKU-100, quantity i, price 101*i): a long repeated field.",
            id: "3f2a9c1d-1111-4abc-8def-000000000100",
            created_at: at(1_735_689_600, 500_000_000),
            items: many_items,
            currency: "GBP",
            ..Spec::usual()
        },
        Spec {
            name: "unicode_skus",
            description: "SKUs with emoji (4-byte UTF-8), CJK, a combining mark (e + U+0301, NOT normalized to U+00E9), the precomposed U+00E9, and right-to-left text. Strings are hashed as their UTF-8 bytes, never normalized.",
            id: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
            user: "用户-ユーザー",
            created_at: at(1_700_000_001, 1),
            items: vec![
                item("☕-COFFEE-🇩🇪", 1, 350),
                item("茶-緑茶-녹차", 2, 480),
                item("cafe\u{301}", 1, 275),
                item("caf\u{e9}", 1, 275),
                item("ספר-كتاب", 4, 1999),
            ],
            currency: "JPY",
        },
        Spec {
            name: "large_amounts_sum_to_i64_max",
            description: "Amounts near the i64 limit whose total is exactly i64::MAX (9223372036854775807), encoded as 9-byte varints.",
            id: "ffffffff-ffff-4fff-bfff-ffffffffffff",
            created_at: at(4_102_444_799, 999_999_999),
            items: vec![
                item("BIG-1", 1, 4_611_686_018_427_387_903),
                item("BIG-2", 1, 4_611_686_018_427_387_904),
            ],
            ..Spec::usual()
        },
        Spec {
            name: "large_quantity_and_price",
            description: "Maximum business quantity (10000) times a large unit price.",
            id: "00000000-0000-4000-8000-000000000001",
            created_at: at(1_700_000_000, 0),
            items: vec![item("BULK", 10_000, 922_337_203_685_477)],
            currency: "CHF",
            ..Spec::usual()
        },
        Spec {
            name: "created_at_absent",
            description: "created_at not set: field 3 does not appear in the bytes at all.",
            id: "5e7d1a2b-3c4d-4e5f-9a0b-1c2d3e4f5a6b",
            ..Spec::usual()
        },
        Spec {
            name: "created_at_epoch_present",
            description: "created_at set to the zero timestamp (1970-01-01T00:00:00Z): an empty sub-message (bytes 1a 00), which differs from an absent field.",
            id: "6f8e2b3c-4d5e-4f60-8b1c-2d3e4f5a6b7c",
            created_at: at(0, 0),
            ..Spec::usual()
        },
        Spec {
            name: "created_at_before_epoch",
            description: "Negative seconds (1969-12-31T23:59:59.5Z): a negative int64 is a 10-byte varint.",
            id: "7a9f3c4d-5e6f-4071-9c2d-3e4f5a6b7c8d",
            created_at: at(-1, 500_000_000),
            ..Spec::usual()
        },
        Spec {
            name: "empty_strings_and_defaults",
            description: "Every proto3 scalar at its default: empty user_id, currency and SKU, zero quantity, price and total, no created_at, and one item with all defaults. Default scalars are omitted from the bytes; the empty item is still encoded (22 00).",
            id: "",
            user: "",
            items: vec![item("", 0, 0)],
            currency: "",
            ..Spec::usual()
        },
        Spec {
            name: "no_fields_set",
            description: "The empty message: zero bytes, whose SHA-256 is the well-known e3b0c442...b855.",
            id: "",
            user: "",
            items: Vec::new(),
            currency: "",
            ..Spec::usual()
        },
    ]
}

fn main() -> Result<(), serde_json::Error> {
    let file = VectorFile {
        description: "events.v1.OrderCreated test vectors: fields, the exact protobuf encoding \
                      (lowercase hex, fields in field-number order as every official encoder \
                      writes them) and its SHA-256 (lowercase hex), the event_payload_hash claim. \
                      64-bit integers are decimal strings; a missing created_at is an absent \
                      field. Generated by shared/event/examples/gen_vectors.rs; checked in Rust, \
                      Python and Go.",
        message: "events.v1.OrderCreated",
        vectors: vectors()
            .into_iter()
            .map(|spec| {
                let (name, description) = (spec.name, spec.description);
                let event = spec.event();
                let encoded = zte_event::encode_order_created(&event);
                Vector {
                    name,
                    description,
                    fields: fields(&event),
                    encoded_hex: hex::encode(&encoded.payload),
                    sha256: encoded.payload_hash,
                }
            })
            .collect(),
    };
    println!("{}", serde_json::to_string_pretty(&file)?);
    Ok(())
}
