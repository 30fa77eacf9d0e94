//! Readiness follows the JWKS; liveness and reflection answer without a token.

use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus;
use zte_proto::orders::v1::SERVICE_NAME;
use zte_testkit::{
    clients::reflection_services, orders::OrdersApp, token_service::TokenService, wait,
};

#[tokio::test]
async fn health_is_not_serving_until_the_jwks_loads_then_serving() {
    // The token service answers 503 (no JWKS) until it is switched on.
    let tokens = TokenService::start_unavailable().await;
    let app = OrdersApp::spawn(&tokens.issuer).await;
    assert_eq!(app.readiness().await, ServingStatus::NotServing);
    // Liveness (the server as a whole) is SERVING meanwhile: not ready is not dead.
    assert_eq!(app.liveness().await, ServingStatus::Serving);
    // Reflection (for grpcurl) answers without a token too.
    let services = reflection_services(app.addr).await;
    assert!(services.contains(&SERVICE_NAME.to_owned()), "{services:?}");
    // Health and reflection need no token.
    tokens.set_available(true);
    wait::wait_grpc_health(
        app.addr,
        SERVICE_NAME,
        ServingStatus::Serving,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    app.stop().await;
}
