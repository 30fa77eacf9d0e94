//! The shared hash test vectors (`proto/testdata/order_created_vectors.json`) hold for Rust:
//! building each `OrderCreated` from its JSON fields and encoding it with
//! `zte_event::encode_order_created` gives exactly the recorded bytes and SHA-256, and decoding
//! the recorded bytes gives back the same fields. Python and Go check the same file in
//! `clients/`.

// Helpers outside `#[test]` functions parse a fixture: a malformed file must fail the test loudly.
#![allow(clippy::expect_used)]

mod common;

use prost::Message;
use serde_json::Value;
use zte_proto::events::v1::{OrderCreated, OrderItem};

use common::{array, str_of, testdata};

fn vector_file() -> Value {
    testdata("order_created_vectors.json")
}

fn vectors() -> Vec<Value> {
    array(&vector_file(), "vectors").to_vec()
}

/// The vector named `name`.
fn vector(name: &str) -> Value {
    vectors()
        .into_iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("vector {name} exists"))
}

fn string(v: &Value, key: &str) -> String {
    str_of(v, key).to_owned()
}

/// 64-bit integers are decimal strings in the vectors (proto3 JSON mapping).
fn int64(v: &Value, key: &str) -> i64 {
    string(v, key)
        .parse()
        .unwrap_or_else(|e| panic!("`{key}` is an int64 string in {v}: {e}"))
}

fn message_from_fields(fields: &Value) -> OrderCreated {
    OrderCreated {
        order_transaction_id: string(fields, "order_transaction_id"),
        user_id: string(fields, "user_id"),
        created_at: fields.get("created_at").map(|t| prost_types::Timestamp {
            seconds: int64(t, "seconds"),
            nanos: i32::try_from(t["nanos"].as_i64().expect("nanos is a number"))
                .expect("nanos fits i32"),
        }),
        items: fields["items"]
            .as_array()
            .expect("items is an array")
            .iter()
            .map(|i| OrderItem {
                sku: string(i, "sku"),
                quantity: u32::try_from(i["quantity"].as_u64().expect("quantity is a number"))
                    .expect("quantity fits u32"),
                unit_price_minor: int64(i, "unit_price_minor"),
            })
            .collect(),
        currency: string(fields, "currency"),
        total_minor: int64(fields, "total_minor"),
    }
}

#[test]
fn vector_file_covers_the_required_cases() {
    let vectors = vectors();
    assert!(
        vectors.len() >= 6,
        "at least 6 vectors, got {}",
        vectors.len()
    );
    let mut names: Vec<String> = vectors.iter().map(|v| string(v, "name")).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), vectors.len(), "vector names are unique");
    let messages: Vec<OrderCreated> = vectors
        .iter()
        .map(|v| message_from_fields(&v["fields"]))
        .collect();
    assert!(messages.iter().any(|m| m.items.len() == 1));
    assert!(messages.iter().any(|m| m.items.len() >= 100));
    assert!(
        messages
            .iter()
            .flat_map(|m| &m.items)
            .any(|i| !i.sku.is_ascii())
    );
    assert!(messages.iter().any(|m| m.total_minor == i64::MAX));
    assert!(messages.iter().any(|m| m.created_at.is_none()));
    assert!(
        messages
            .iter()
            .any(|m| m.created_at.is_some_and(|t| t.nanos == 0))
    );
    assert!(
        messages
            .iter()
            .any(|m| m.created_at.is_some_and(|t| t.nanos != 0))
    );
    assert!(messages.iter().any(|m| m.user_id.is_empty()));
}

#[test]
fn encoding_each_vector_gives_exactly_its_bytes_and_hash() {
    for v in vectors() {
        let name = string(&v, "name");
        let event = message_from_fields(&v["fields"]);
        let encoded = zte_event::encode_order_created(&event);
        assert_eq!(
            hex::encode(&encoded.payload),
            string(&v, "encoded_hex"),
            "bytes of vector {name}"
        );
        assert_eq!(
            encoded.payload_hash,
            string(&v, "sha256"),
            "hash of vector {name}"
        );
        assert!(zte_event::is_payload_hash(&encoded.payload_hash));
    }
}

#[test]
fn hash_of_each_vector_is_sha256_of_its_recorded_bytes() {
    for v in vectors() {
        let name = string(&v, "name");
        let bytes = hex::decode(string(&v, "encoded_hex")).expect("encoded_hex is hex");
        assert_eq!(
            zte_event::payload_hash(&bytes),
            string(&v, "sha256"),
            "vector {name}"
        );
    }
}

#[test]
fn decoding_each_vector_gives_back_its_fields() {
    for v in vectors() {
        let name = string(&v, "name");
        let bytes = hex::decode(string(&v, "encoded_hex")).expect("encoded_hex is hex");
        let decoded = OrderCreated::decode(bytes.as_slice())
            .unwrap_or_else(|e| panic!("vector {name} does not decode: {e}"));
        assert_eq!(decoded, message_from_fields(&v["fields"]), "vector {name}");
    }
}

/// Independent of prost: the first vector spelled out by hand from the protobuf wire format,
/// so a regenerated file cannot silently drift with the encoder.
#[test]
fn single_item_vector_matches_the_hand_encoded_wire_format() {
    let v = vector("single_item_zero_nanos");
    let mut expected = Vec::new();
    let id = b"0b6f1c1e-4e0e-4d59-9a53-2c2b8f0b7f43";
    expected.extend([0x0a, 36]);
    expected.extend(id);
    expected.extend([0x12, 8]);
    expected.extend(b"demouser");
    // created_at { seconds: 1700000000 } = field 1 varint 0x80 0xe2 0xcf 0xaa 0x06
    expected.extend([0x1a, 6, 0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06]);
    // items { sku: "SKU-1", quantity: 2, unit_price_minor: 1250 (0xe2 0x09) }
    expected.extend([0x22, 12, 0x0a, 5]);
    expected.extend(b"SKU-1");
    expected.extend([0x10, 2, 0x18, 0xe2, 0x09]);
    expected.extend([0x2a, 3]);
    expected.extend(b"EUR");
    // total_minor 2500 = 0xc4 0x13
    expected.extend([0x30, 0xc4, 0x13]);
    assert_eq!(string(&v, "encoded_hex"), hex::encode(expected));
}

#[test]
fn empty_message_vector_hashes_to_the_sha256_of_nothing() {
    let v = vector("no_fields_set");
    assert_eq!(string(&v, "encoded_hex"), "");
    assert_eq!(
        string(&v, "sha256"),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}
