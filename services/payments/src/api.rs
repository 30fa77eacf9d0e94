//! `payments.v1.PaymentsService`: users read their own payments.
//!
//! Authentication and the `payments` scope are enforced by `zte_grpc::AuthLayer` before a
//! handler runs; handlers read the [`Caller`] and only ever query that user's rows, so another
//! user's payment is indistinguishable from a missing one (`NOT_FOUND`). Errors map to
//! `tonic::Status` in one place, [`ApiError::into_status`].

use tonic::{Request, Response, Status};
use zte_grpc::Caller;
use zte_proto::payments::v1::{
    GetPaymentRequest, GetPaymentResponse, ListPaymentsRequest, ListPaymentsResponse, Payment,
    payments_service_server::PaymentsService,
};

use crate::{
    error::ApiError,
    store::{ListCursor, PaymentRecord, PaymentStore},
};

/// Page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: u32 = 100;

/// The gRPC service implementation.
#[derive(Debug, Clone)]
pub struct PaymentsApi {
    store: PaymentStore,
}

impl PaymentsApi {
    /// A service reading from `store`.
    pub fn new(store: PaymentStore) -> Self {
        Self { store }
    }

    async fn get(&self, caller: &Caller, order_id: &str) -> Result<Payment, ApiError> {
        // Payments are stored under the canonical form of the id, whatever the spelling.
        let order_id =
            zte_event::canonical_order_id(order_id).ok_or(ApiError::InvalidArgument {
                field: "order_transaction_id",
                reason: "must be a UUID",
            })?;
        self.store
            .get(caller.user_id(), &order_id)
            .await?
            .map(to_proto)
            .ok_or(ApiError::NotFound)
    }

    async fn list(
        &self,
        caller: &Caller,
        request: &ListPaymentsRequest,
    ) -> Result<ListPaymentsResponse, ApiError> {
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n <= MAX_PAGE_SIZE => n,
            _ => {
                return Err(ApiError::InvalidArgument {
                    field: "page_size",
                    reason: "must be between 0 and 100",
                });
            }
        };
        let cursor = if request.page_token.is_empty() {
            None
        } else {
            Some(
                decode_page_token(&request.page_token).ok_or(ApiError::InvalidArgument {
                    field: "page_token",
                    reason: "not a token from a previous response",
                })?,
            )
        };
        // One extra row tells whether another page exists.
        let mut rows = self
            .store
            .list(caller.user_id(), cursor, page_size + 1)
            .await?;
        let next_page_token = if rows.len() > page_size as usize {
            rows.truncate(page_size as usize);
            rows.last()
                .map(|last| encode_page_token(last.recorded_at_ns, &last.order_transaction_id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(ListPaymentsResponse {
            payments: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        })
    }
}

#[tonic::async_trait]
impl PaymentsService for PaymentsApi {
    async fn get_payment(
        &self,
        request: Request<GetPaymentRequest>,
    ) -> Result<Response<GetPaymentResponse>, Status> {
        let (caller, request) = Caller::split(request)?;
        let payment = self.get(&caller, &request.order_transaction_id).await?;
        Ok(Response::new(GetPaymentResponse {
            payment: Some(payment),
        }))
    }

    async fn list_payments(
        &self,
        request: Request<ListPaymentsRequest>,
    ) -> Result<Response<ListPaymentsResponse>, Status> {
        let (caller, request) = Caller::split(request)?;
        Ok(Response::new(self.list(&caller, &request).await?))
    }
}

fn to_proto(record: PaymentRecord) -> Payment {
    Payment {
        order_transaction_id: record.order_transaction_id,
        user_id: record.user_id,
        amount_minor: record.amount_minor,
        currency: record.currency,
        order_created_at: Some(timestamp(record.order_created_at_ns)),
        recorded_at: Some(timestamp(record.recorded_at_ns)),
        triggered_by: record.triggered_by,
    }
}

fn timestamp(unix_nanos: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: unix_nanos.div_euclid(1_000_000_000),
        // rem_euclid of 1e9 is in 0..1e9, which fits an i32.
        nanos: i32::try_from(unix_nanos.rem_euclid(1_000_000_000)).unwrap_or(0),
    }
}

/// Opaque to clients: hex of `<recorded_at_ns>:<order id>`.
fn encode_page_token(recorded_at_ns: i64, order_id: &str) -> String {
    hex::encode(format!("{recorded_at_ns}:{order_id}"))
}

fn decode_page_token(token: &str) -> Option<ListCursor> {
    let bytes = hex::decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (at, id) = text.split_once(':')?;
    let at = at.parse().ok()?;
    uuid::Uuid::parse_str(id).ok()?;
    Some((at, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_garbage_is_refused() {
        let id = "0b6f1c1e-4e0e-4d59-9a53-2c2b8f0b7f43";
        let token = encode_page_token(42, id);
        assert_eq!(decode_page_token(&token), Some((42, id.to_owned())));
        assert_eq!(decode_page_token("zz"), None);
        assert_eq!(decode_page_token(&hex::encode("42:not-a-uuid")), None);
    }

    #[test]
    fn timestamps_split_nanos_correctly() {
        let t = timestamp(1_700_000_000_123_456_789);
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_456_789));
        let t = timestamp(-1);
        assert_eq!((t.seconds, t.nanos), (-1, 999_999_999));
    }
}
