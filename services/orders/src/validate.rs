//! Input validation for `CreateOrder`, as pure functions.
//!
//! Every failure names the request field it is about (`request_id`, `items`,
//! `items[3].quantity`, `currency`), so the client gets an `INVALID_ARGUMENT` with
//! `BadRequest` field violations it can act on. All violations are reported at once.

use sha2::{Digest as _, Sha256};
use zte_proto::{events::v1 as events, orders::v1 as api};

/// Longest accepted `request_id`, in characters.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// Most items in one order.
pub const MAX_ITEMS: usize = 100;
/// Longest accepted SKU, in characters.
pub const MAX_SKU_CHARS: usize = 64;
/// Largest quantity of one item.
pub const MAX_QUANTITY: u32 = 10_000;

/// One invalid field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field path, e.g. `items[2].sku`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

impl FieldViolation {
    fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// A `CreateOrder` request that passed validation, with its total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidOrder {
    /// The client's idempotency key.
    pub request_id: String,
    /// The items, in the client's order.
    pub items: Vec<events::OrderItem>,
    /// ISO 4217 code.
    pub currency: String,
    /// Sum of quantity * unit price, in minor units (overflow-checked, > 0).
    pub total_minor: i64,
}

impl ValidOrder {
    /// SHA-256 of the request body (currency and items, in order; not the request id): a
    /// retry has the same hash, another order under the same request id does not. Every
    /// field is length-prefixed or fixed-width, so two bodies cannot encode alike.
    pub fn request_hash(&self) -> Vec<u8> {
        let mut hash = Sha256::new();
        let text = |hash: &mut Sha256, value: &str| {
            hash.update((value.len() as u64).to_be_bytes());
            hash.update(value.as_bytes());
        };
        text(&mut hash, "zte.orders.CreateOrder.v1");
        text(&mut hash, &self.currency);
        hash.update((self.items.len() as u64).to_be_bytes());
        for item in &self.items {
            text(&mut hash, &item.sku);
            hash.update(item.quantity.to_be_bytes());
            hash.update(item.unit_price_minor.to_be_bytes());
        }
        hash.finalize().to_vec()
    }
}

/// Validates a `CreateOrder` request; on failure returns every violation (never empty).
pub fn validate_create_order(
    request: &api::CreateOrderRequest,
) -> Result<ValidOrder, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    if let Err(v) = validate_request_id(&request.request_id) {
        violations.push(v);
    }
    if let Err(v) = validate_currency(&request.currency) {
        violations.push(v);
    }
    if request.items.is_empty() {
        violations.push(FieldViolation::new(
            "items",
            "at least one item is required",
        ));
    } else if request.items.len() > MAX_ITEMS {
        violations.push(FieldViolation::new(
            "items",
            format!("at most {MAX_ITEMS} items are allowed"),
        ));
    }
    // Item checks still run on an over-long list, but only the first MAX_ITEMS are looked at:
    // the list-length violation is already reported and the work stays bounded.
    for (index, item) in request.items.iter().take(MAX_ITEMS).enumerate() {
        violations.extend(validate_item(index, item));
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    let items: Vec<events::OrderItem> = request
        .items
        .iter()
        .map(|item| events::OrderItem {
            sku: item.sku.clone(),
            quantity: item.quantity,
            unit_price_minor: item.unit_price_minor,
        })
        .collect();
    let total_minor = zte_event::total_minor(&items)
        .filter(|total| *total > 0)
        .ok_or_else(|| {
            vec![FieldViolation::new(
                "items",
                "the order total does not fit in a signed 64-bit amount of minor units",
            )]
        })?;
    Ok(ValidOrder {
        request_id: request.request_id.clone(),
        items,
        currency: request.currency.clone(),
        total_minor,
    })
}

/// `request_id`: 1 to 128 characters, no control characters.
pub fn validate_request_id(request_id: &str) -> Result<(), FieldViolation> {
    let chars = request_id.chars().count();
    if chars == 0 || chars > MAX_REQUEST_ID_CHARS {
        return Err(FieldViolation::new(
            "request_id",
            format!("must be 1 to {MAX_REQUEST_ID_CHARS} characters"),
        ));
    }
    if request_id.chars().any(char::is_control) {
        return Err(FieldViolation::new(
            "request_id",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// `currency`: ISO 4217 alphabetic code shape, three uppercase ASCII letters.
pub fn validate_currency(currency: &str) -> Result<(), FieldViolation> {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(FieldViolation::new(
            "currency",
            "must be an ISO 4217 code: three uppercase letters, e.g. EUR",
        ))
    }
}

/// One item: SKU 1 to 64 characters without control characters, quantity 1 to 10000,
/// unit price greater than zero.
pub fn validate_item(index: usize, item: &api::OrderItem) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    let sku_chars = item.sku.chars().count();
    if sku_chars == 0 || sku_chars > MAX_SKU_CHARS {
        violations.push(FieldViolation::new(
            format!("items[{index}].sku"),
            format!("must be 1 to {MAX_SKU_CHARS} characters"),
        ));
    } else if item.sku.chars().any(char::is_control) {
        violations.push(FieldViolation::new(
            format!("items[{index}].sku"),
            "must not contain control characters",
        ));
    }
    if item.quantity == 0 || item.quantity > MAX_QUANTITY {
        violations.push(FieldViolation::new(
            format!("items[{index}].quantity"),
            format!("must be between 1 and {MAX_QUANTITY}"),
        ));
    }
    if item.unit_price_minor <= 0 {
        violations.push(FieldViolation::new(
            format!("items[{index}].unit_price_minor"),
            "must be greater than zero (minor units, e.g. cents)",
        ));
    }
    violations
}

/// Parses an order id: a UUID in any accepted text form, returned canonical (lowercase,
/// hyphenated) because that is how ids are stored and sent.
pub fn parse_order_id(value: &str) -> Result<String, FieldViolation> {
    uuid::Uuid::parse_str(value)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| FieldViolation::new("order_transaction_id", "must be a UUID"))
}

/// Default and largest ListOrders page sizes.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest ListOrders page size.
pub const MAX_PAGE_SIZE: u32 = 100;

/// `page_size`: 0 means the default; otherwise 1 to 100.
pub fn validate_page_size(page_size: u32) -> Result<u32, FieldViolation> {
    match page_size {
        0 => Ok(DEFAULT_PAGE_SIZE),
        1..=MAX_PAGE_SIZE => Ok(page_size),
        _ => Err(FieldViolation::new(
            "page_size",
            format!("must be 0 (default {DEFAULT_PAGE_SIZE}) to {MAX_PAGE_SIZE}"),
        )),
    }
}

/// Prefix of page tokens: a version tag so the format can change without misreading old ones.
const PAGE_TOKEN_PREFIX: &str = "o1.";

/// Encodes the position after which the next page starts.
pub fn encode_page_token(after_seq: i64) -> String {
    format!("{PAGE_TOKEN_PREFIX}{after_seq}")
}

/// Decodes a page token; empty means the first page.
pub fn decode_page_token(token: &str) -> Result<Option<i64>, FieldViolation> {
    if token.is_empty() {
        return Ok(None);
    }
    token
        .strip_prefix(PAGE_TOKEN_PREFIX)
        .and_then(|seq| seq.parse::<i64>().ok())
        .filter(|seq| *seq > 0)
        .map(Some)
        .ok_or_else(|| FieldViolation::new("page_token", "is not a token returned by ListOrders"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn item(sku: &str, quantity: u32, unit_price_minor: i64) -> api::OrderItem {
        api::OrderItem {
            sku: sku.into(),
            quantity,
            unit_price_minor,
        }
    }

    fn request(items: Vec<api::OrderItem>) -> api::CreateOrderRequest {
        api::CreateOrderRequest {
            request_id: "r-1".into(),
            items,
            currency: "EUR".into(),
        }
    }

    fn fields(result: Result<ValidOrder, Vec<FieldViolation>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn valid_order_passes_with_its_total() {
        let valid =
            validate_create_order(&request(vec![item("A", 2, 150), item("B", 1, 5)])).unwrap();
        assert_eq!(valid.total_minor, 305);
        assert_eq!(valid.items.len(), 2);
        assert_eq!(valid.items[0].sku, "A");
    }

    #[test]
    fn the_request_hash_covers_the_body_not_the_request_id() {
        let hash = |r: &api::CreateOrderRequest| validate_create_order(r).unwrap().request_hash();
        let base = request(vec![item("AB", 1, 5), item("C", 2, 7)]);
        let mut retry = base.clone();
        retry.request_id = "another id".into();
        assert_eq!(hash(&base), hash(&retry));
        let mut reordered = base.clone();
        reordered.items.reverse();
        let mut resplit = base.clone();
        resplit.items[0].sku = "A".into();
        resplit.items[1].sku = "BC".into();
        let mut currency = base.clone();
        currency.currency = "USD".into();
        let mut quantity = base.clone();
        quantity.items[1].quantity = 3;
        for other in [reordered, resplit, currency, quantity] {
            assert_ne!(hash(&base), hash(&other), "{other:?}");
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut r = request(vec![item("A", 1, 1)]);
        r.request_id = String::new();
        assert_eq!(fields(validate_create_order(&r)), ["request_id"]);
        r.request_id = "x".repeat(129);
        assert_eq!(fields(validate_create_order(&r)), ["request_id"]);
        r.request_id = "x".repeat(128);
        assert!(validate_create_order(&r).is_ok());

        for currency in ["", "eur", "EURO", "E1R", "ÉUR"] {
            let mut r = request(vec![item("A", 1, 1)]);
            r.currency = currency.into();
            assert_eq!(
                fields(validate_create_order(&r)),
                ["currency"],
                "{currency:?}"
            );
        }

        assert_eq!(fields(validate_create_order(&request(vec![]))), ["items"]);
        let many = vec![item("A", 1, 1); 101];
        assert_eq!(fields(validate_create_order(&request(many))), ["items"]);
        assert!(validate_create_order(&request(vec![item("A", 1, 1); 100])).is_ok());

        let bad = request(vec![
            item("ok", 1, 1),
            item("", 0, 0),
            item(&"s".repeat(65), 10_001, -5),
            item("a\nb", 1, 1),
        ]);
        assert_eq!(
            fields(validate_create_order(&bad)),
            [
                "items[1].sku",
                "items[1].quantity",
                "items[1].unit_price_minor",
                "items[2].sku",
                "items[2].quantity",
                "items[2].unit_price_minor",
                "items[3].sku",
            ]
        );
    }

    #[test]
    fn total_overflow_is_an_items_violation() {
        let r = request(vec![
            item("A", 10_000, i64::MAX / 10_000),
            item("B", 10_000, i64::MAX / 10_000),
        ]);
        assert_eq!(fields(validate_create_order(&r)), ["items"]);
    }

    #[test]
    fn order_ids_page_sizes_and_page_tokens() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(
            parse_order_id(&id.to_string().to_uppercase()).unwrap(),
            id.to_string()
        );
        assert_eq!(
            parse_order_id("nope").unwrap_err().field,
            "order_transaction_id"
        );
        assert_eq!(validate_page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(validate_page_size(100), Ok(100));
        assert_eq!(validate_page_size(101).unwrap_err().field, "page_size");
        assert_eq!(decode_page_token(""), Ok(None));
        assert_eq!(decode_page_token(&encode_page_token(42)), Ok(Some(42)));
        for bad in ["42", "o1.", "o1.-3", "o1.x"] {
            assert_eq!(decode_page_token(bad).unwrap_err().field, "page_token");
        }
    }

    fn known_field(field: &str) -> bool {
        if ["request_id", "currency", "items"].contains(&field) {
            return true;
        }
        let Some(rest) = field.strip_prefix("items[") else {
            return false;
        };
        let Some((index, name)) = rest.split_once("].") else {
            return false;
        };
        index.parse::<usize>().is_ok_and(|i| i < MAX_ITEMS)
            && ["sku", "quantity", "unit_price_minor"].contains(&name)
    }

    fn any_item() -> impl Strategy<Value = api::OrderItem> {
        (".{0,80}", any::<u32>(), any::<i64>()).prop_map(|(sku, quantity, unit_price_minor)| {
            api::OrderItem {
                sku,
                quantity,
                unit_price_minor,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_requests_never_panic_and_every_failure_names_a_field(
            request_id in ".{0,140}",
            currency in ".{0,5}",
            items in proptest::collection::vec(any_item(), 0..110),
        ) {
            let request = api::CreateOrderRequest { request_id, items, currency };
            match validate_create_order(&request) {
                Ok(valid) => {
                    prop_assert!(valid.total_minor > 0);
                    prop_assert_eq!(zte_event::total_minor(&valid.items), Some(valid.total_minor));
                }
                Err(violations) => {
                    prop_assert!(!violations.is_empty());
                    for v in &violations {
                        prop_assert!(known_field(&v.field), "unexpected field {}", v.field);
                        prop_assert!(!v.description.is_empty());
                    }
                }
            }
        }

        #[test]
        fn well_formed_requests_are_accepted_with_the_exact_total(
            request_id in "[a-zA-Z0-9-]{1,128}",
            currency in "[A-Z]{3}",
            items in proptest::collection::vec(
                ("[A-Z0-9-]{1,64}", 1u32..=10_000, 1i64..=1_000_000_000), 1..=100),
        ) {
            let expected: i64 = items.iter().map(|(_, q, p)| i64::from(*q) * p).sum();
            let request = api::CreateOrderRequest {
                request_id,
                currency,
                items: items.into_iter().map(|(sku, quantity, unit_price_minor)| api::OrderItem { sku, quantity, unit_price_minor }).collect(),
            };
            let valid = validate_create_order(&request);
            prop_assert_eq!(valid.map(|v| v.total_minor), Ok(expected));
        }

        #[test]
        fn arbitrary_page_tokens_and_order_ids_never_panic(token in ".{0,40}") {
            let _ = decode_page_token(&token);
            let _ = parse_order_id(&token);
        }
    }
}
