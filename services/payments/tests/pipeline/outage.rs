//! The JWKS unreachable: not ready, and a record whose key cannot be checked is retried, not
//! dead-lettered, and paid once the JWKS is back.

use tonic_health::pb::health_check_response::ServingStatus;
use zte_testkit::{kafka, payments::PaymentsSetup, token_service::TokenService};

use crate::USER;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_outage_keeps_health_not_serving_and_retries_instead_of_dead_lettering() {
    let tokens = TokenService::start_unavailable().await;
    let setup = PaymentsSetup::new(&tokens.issuer, 1).await;
    let app = setup.spawn().await;
    assert_eq!(app.readiness().await, ServingStatus::NotServing);

    let event = tokens.event(USER);
    setup.publish([&event]).await;
    // The consumer holds the record (so it is assigned) but cannot check its key.
    app.wait_stats("retries while the JWKS is down", |s| s.retried >= 2)
        .await;
    assert_eq!(app.readiness().await, ServingStatus::NotServing);
    assert_eq!(app.stats.snapshot().processed, 0);

    tokens.set_available(true);
    app.wait_stats("payment after the JWKS recovers", |s| s.paid == 1)
        .await;
    app.wait_readiness(ServingStatus::Serving).await;
    assert_eq!(app.stats.snapshot().dead_lettered, 0);
    assert_eq!(kafka::record_count(setup.dlq()).await, 0);
    app.stop().await.unwrap();
}
