//! The `orders.v1.OrdersService` gRPC handlers: authenticate (the caller and its token come
//! from `zte_grpc::AuthLayer`), validate, hand over to [`Orders`], map errors in one place.
//! Each handler adds a span with the caller's fields inside the request span of the server's
//! trace layer.

use std::future::Future;

use tonic::{Request, Response, Status};
use tracing::{Instrument as _, Span, field::Empty};
use zte_grpc::Caller;
use zte_proto::orders::v1::{
    CreateOrderRequest, CreateOrderResponse, GetOrderRequest, GetOrderResponse, ListOrdersRequest,
    ListOrdersResponse, orders_service_server::OrdersService,
};

use crate::{
    error::ApiError,
    orders::Orders,
    validate::{decode_page_token, parse_order_id, validate_create_order, validate_page_size},
};

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct OrdersApi {
    orders: Orders,
}

impl OrdersApi {
    /// Serves `orders`.
    pub fn new(orders: Orders) -> Self {
        Self { orders }
    }
}

/// Runs `work` in `span` and maps its error to the client's status inside the span, so the
/// logged cause carries the caller's fields.
async fn in_span<T>(
    span: Span,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, Status> {
    work.instrument(span.clone())
        .await
        .map_err(|e| span.in_scope(|| e.into_status()))
}

#[tonic::async_trait]
impl OrdersService for OrdersApi {
    async fn create_order(
        &self,
        request: Request<CreateOrderRequest>,
    ) -> Result<Response<CreateOrderResponse>, Status> {
        let (caller, request) = Caller::split(request)?;
        let span = tracing::info_span!(
            "create_order",
            user_id = %caller.user_id(),
            request_id = ?request.request_id.chars().take(128).collect::<String>(),
            order_id = Empty,
        );
        // The skeleton runs every API call to completion on a task of its own
        // (`zte_grpc::CallLimitLayer`): a client that hangs up mid-publish does not leave the
        // outbox row half-handled until the next restart.
        let order = in_span(span, async {
            let valid = validate_create_order(&request).map_err(ApiError::InvalidArgument)?;
            self.orders
                .create(caller.user_id(), caller.bearer_token(), valid)
                .await
        })
        .await?;
        Ok(Response::new(CreateOrderResponse { order: Some(order) }))
    }

    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<GetOrderResponse>, Status> {
        let (caller, request) = Caller::split(request)?;
        let span = tracing::info_span!(
            "get_order",
            user_id = %caller.user_id(),
            order_id = ?request.order_transaction_id.chars().take(64).collect::<String>(),
        );
        let order = in_span(span, async {
            let order_id = parse_order_id(&request.order_transaction_id)?;
            self.orders.get(caller.user_id(), &order_id).await
        })
        .await?;
        Ok(Response::new(GetOrderResponse { order: Some(order) }))
    }

    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        let (caller, request) = Caller::split(request)?;
        let span = tracing::info_span!("list_orders", user_id = %caller.user_id());
        let (orders, next_page_token) = in_span(span, async {
            let page_size = validate_page_size(request.page_size)?;
            let after = decode_page_token(&request.page_token)?;
            self.orders.list(caller.user_id(), after, page_size).await
        })
        .await?;
        Ok(Response::new(ListOrdersResponse {
            orders,
            next_page_token,
        }))
    }
}
