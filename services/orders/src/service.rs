//! The `orders.v1.OrdersService` gRPC handlers: authenticate (the caller comes from
//! [`zte_auth::AuthLayer`]), validate, hand over to [`Orders`], map errors in one place.

use tonic::{Request, Response, Status};
use tracing::{Instrument as _, field::Empty};
use zte_auth::Caller;
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

/// The bearer token the auth layer already validated (it is the token-exchange subject).
fn bearer_token<T>(request: &Request<T>) -> Result<String, Status> {
    request
        .metadata()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

#[tonic::async_trait]
impl OrdersService for OrdersApi {
    async fn create_order(
        &self,
        request: Request<CreateOrderRequest>,
    ) -> Result<Response<CreateOrderResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let subject_token = bearer_token(&request)?;
        let request = request.into_inner();
        let span = tracing::info_span!(
            "create_order",
            user_id = %caller.user_id(),
            request_id = ?request.request_id.chars().take(128).collect::<String>(),
            order_id = Empty,
        );
        let orders = self.orders.clone();
        // Run to completion in its own task: a client that hangs up mid-publish must not
        // leave the outbox row half-handled until the next restart.
        let work = async move {
            let valid = validate_create_order(&request).map_err(ApiError::InvalidArgument)?;
            orders.create(caller.user_id(), &subject_token, valid).await
        }
        .instrument(span.clone());
        let result = tokio::spawn(work)
            .await
            .map_err(|e| ApiError::Internal(format!("create task failed: {e}")))
            .and_then(|r| r);
        let _entered = span.enter();
        let order = result.map_err(ApiError::into_status)?;
        Ok(Response::new(CreateOrderResponse { order: Some(order) }))
    }

    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<GetOrderResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let request = request.into_inner();
        let span = tracing::info_span!(
            "get_order",
            user_id = %caller.user_id(),
            order_id = ?request.order_transaction_id.chars().take(64).collect::<String>(),
        );
        async {
            let order_id = parse_order_id(&request.order_transaction_id)?;
            self.orders.get(caller.user_id(), &order_id).await
        }
        .instrument(span.clone())
        .await
        .map(|order| Response::new(GetOrderResponse { order: Some(order) }))
        .map_err(|e| span.in_scope(|| e.into_status()))
    }

    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        let caller = Caller::from_request(&request)?;
        let request = request.into_inner();
        let span = tracing::info_span!("list_orders", user_id = %caller.user_id());
        async {
            let page_size = validate_page_size(request.page_size)?;
            let after = decode_page_token(&request.page_token)?;
            self.orders.list(caller.user_id(), after, page_size).await
        }
        .instrument(span.clone())
        .await
        .map(|(orders, next_page_token)| {
            Response::new(ListOrdersResponse {
                orders,
                next_page_token,
            })
        })
        .map_err(|e| span.in_scope(|| e.into_status()))
    }
}
