//! gRPC clients of Orders and Payments with one method per RPC, each taking the caller's bearer
//! token, for the in-process apps and the real binaries alike.

use std::{collections::HashSet, future::Future, net::SocketAddr, time::Duration};

use tonic::{
    Request, Status,
    transport::{Channel, ClientTlsConfig},
};
use zte_proto::{
    orders::v1::{
        CreateOrderRequest, GetOrderRequest, ListOrdersRequest, ListOrdersResponse, Order,
        OrderItem, orders_service_client::OrdersServiceClient,
    },
    payments::v1::{
        GetPaymentRequest, ListPaymentsRequest, ListPaymentsResponse, Payment,
        payments_service_client::PaymentsServiceClient,
    },
};

/// The token of an anonymous caller: the request carries no `authorization` header.
pub const NO_TOKEN: &str = "";

/// `message` with `authorization: Bearer <token>` ([`NO_TOKEN`]: without the header).
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    if !token.is_empty() {
        let value = format!("Bearer {token}")
            .parse()
            .expect("a token is valid header text");
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Where and how to reach a gRPC server: plaintext (a bare `SocketAddr` converts to that) or
/// TLS with a client configuration (trust, optional client certificate).
#[derive(Debug, Clone)]
pub struct Dial {
    /// The server's address.
    pub addr: SocketAddr,
    /// TLS, or `None` for plaintext.
    pub tls: Option<ClientTlsConfig>,
}

impl Dial {
    /// `addr` over TLS configured by `tls`.
    pub fn tls(addr: SocketAddr, tls: ClientTlsConfig) -> Self {
        Self {
            addr,
            tls: Some(tls),
        }
    }
}

impl From<SocketAddr> for Dial {
    fn from(addr: SocketAddr) -> Self {
        Self { addr, tls: None }
    }
}

impl From<&Dial> for Dial {
    fn from(dial: &Dial) -> Self {
        dial.clone()
    }
}

/// A gRPC channel to the server `dial` names (plaintext or TLS).
pub async fn channel(dial: impl Into<Dial>) -> anyhow::Result<Channel> {
    let dial = dial.into();
    let endpoint = match dial.tls {
        None => Channel::from_shared(format!("http://{}", dial.addr))?,
        Some(tls) => Channel::from_shared(format!("https://{}", dial.addr))?.tls_config(tls)?,
    };
    Ok(endpoint.connect().await?)
}

/// The items of the usual test order: 2 × 1250 + 1 × 99 = 2599.
pub const ITEMS: &[(&str, u32, i64)] = &[("SKU-1", 2, 1250), ("SKU-2", 1, 99)];

/// A valid order request for `items` (sku, quantity, unit price) in EUR, with a random
/// request id.
pub fn order_request(items: &[(&str, u32, i64)]) -> CreateOrderRequest {
    CreateOrderRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        items: items
            .iter()
            .map(|(sku, quantity, unit_price_minor)| OrderItem {
                sku: (*sku).to_owned(),
                quantity: *quantity,
                unit_price_minor: *unit_price_minor,
            })
            .collect(),
        currency: "EUR".into(),
    }
}

/// `value`, or `INTERNAL` naming the `field` the answer lacks.
fn required<T>(value: Option<T>, field: &str) -> Result<T, Status> {
    value.ok_or_else(|| Status::internal(format!("no {field} in response")))
}

/// Every item of a paged List RPC: `page(page_token)` answers one page of up to 100 items and
/// the next page token (empty after the last page).
async fn all_pages<T, Fut>(mut page: impl FnMut(String) -> Fut) -> Result<Vec<T>, Status>
where
    Fut: Future<Output = Result<(Vec<T>, String), Status>>,
{
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let (items, next) = page(page_token).await?;
        all.extend(items);
        if next.is_empty() {
            return Ok(all);
        }
        page_token = next;
    }
}

/// `orders.v1.OrdersService`, one method per RPC.
#[derive(Debug, Clone)]
pub struct OrdersClient(OrdersServiceClient<Channel>);

impl OrdersClient {
    /// A client on `channel`.
    pub fn new(channel: Channel) -> Self {
        Self(OrdersServiceClient::new(channel))
    }

    /// CreateOrder as the holder of `token`.
    pub async fn create_order(
        &self,
        token: &str,
        request: CreateOrderRequest,
    ) -> Result<Order, Status> {
        let response = self.0.clone().create_order(authed(request, token)).await?;
        required(response.into_inner().order, "order")
    }

    /// GetOrder of `id`.
    pub async fn get_order(&self, token: &str, id: &str) -> Result<Order, Status> {
        let request = GetOrderRequest {
            order_transaction_id: id.to_owned(),
        };
        let response = self.0.clone().get_order(authed(request, token)).await?;
        required(response.into_inner().order, "order")
    }

    /// ListOrders: one page.
    pub async fn list_orders(
        &self,
        token: &str,
        request: ListOrdersRequest,
    ) -> Result<ListOrdersResponse, Status> {
        let response = self.0.clone().list_orders(authed(request, token)).await?;
        Ok(response.into_inner())
    }

    /// ListOrders, following the pages: every order of the caller, newest first.
    pub async fn all_orders(&self, token: &str) -> Result<Vec<Order>, Status> {
        all_pages(|page_token| async move {
            let request = ListOrdersRequest {
                page_size: 100,
                page_token,
            };
            let page = self.list_orders(token, request).await?;
            Ok((page.orders, page.next_page_token))
        })
        .await
    }

    /// The ids of every order of the caller.
    pub async fn all_order_ids(&self, token: &str) -> Result<HashSet<String>, Status> {
        let orders = self.all_orders(token).await?;
        Ok(orders.into_iter().map(|o| o.order_transaction_id).collect())
    }
}

/// `payments.v1.PaymentsService`, one method per RPC.
#[derive(Debug, Clone)]
pub struct PaymentsClient(PaymentsServiceClient<Channel>);

impl PaymentsClient {
    /// A client on `channel`.
    pub fn new(channel: Channel) -> Self {
        Self(PaymentsServiceClient::new(channel))
    }

    /// GetPayment of the order `id`.
    pub async fn get_payment(&self, token: &str, id: &str) -> Result<Payment, Status> {
        let request = GetPaymentRequest {
            order_transaction_id: id.to_owned(),
        };
        let response = self.0.clone().get_payment(authed(request, token)).await?;
        required(response.into_inner().payment, "payment")
    }

    /// ListPayments: one page.
    pub async fn list_payments(
        &self,
        token: &str,
        request: ListPaymentsRequest,
    ) -> Result<ListPaymentsResponse, Status> {
        let response = self.0.clone().list_payments(authed(request, token)).await?;
        Ok(response.into_inner())
    }

    /// ListPayments, following the pages: every payment of the caller, newest first.
    pub async fn all_payments(&self, token: &str) -> Result<Vec<Payment>, Status> {
        all_pages(|page_token| async move {
            let request = ListPaymentsRequest {
                page_size: 100,
                page_token,
            };
            let page = self.list_payments(token, request).await?;
            Ok((page.payments, page.next_page_token))
        })
        .await
    }

    /// Waits until the payment of order `id` is visible to the holder of `token`.
    pub async fn wait_payment(
        &self,
        token: &str,
        id: &str,
        timeout: Duration,
    ) -> anyhow::Result<Payment> {
        crate::wait_until(&format!("payment for {id}"), timeout, || async {
            self.get_payment(token, id).await.ok()
        })
        .await
    }

    /// Waits until the holder of `token` sees at least `count` payments, and returns all of
    /// them.
    pub async fn wait_payments(
        &self,
        token: &str,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Payment>> {
        crate::wait_until(&format!("{count} payments"), timeout, || async {
            let listed = self.all_payments(token).await.ok()?;
            (listed.len() >= count).then_some(listed)
        })
        .await
    }
}

/// The order ids of `payments`, asserting that no order was paid twice (`who`: whose payments,
/// for the failure message).
#[track_caller]
pub fn order_ids_paid_once(payments: &[Payment], who: &str) -> HashSet<String> {
    let ids: Vec<&str> = payments
        .iter()
        .map(|p| p.order_transaction_id.as_str())
        .collect();
    let unique: HashSet<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    assert_eq!(ids.len(), unique.len(), "{who}: an order was paid twice");
    unique
}

/// The services the server `dial` names lists through gRPC reflection (v1).
pub async fn reflection_services(dial: impl Into<Dial>) -> Vec<String> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let channel = channel(dial).await.expect("connecting for reflection");
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("a reflection stream")
        .into_inner();
    match stream.message().await.expect("a reflection answer") {
        Some(answer) => match answer.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                list.service.into_iter().map(|s| s.name).collect()
            }
            other => panic!("unexpected reflection response {other:?}"),
        },
        None => panic!("reflection stream ended without an answer"),
    }
}
