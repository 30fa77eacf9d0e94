//! The JWKS unreachable: never loaded, the service is not ready and consumes nothing; down
//! while records signed by a key it has not fetched yet arrive, those wait on the retry
//! topic while valid events keep being paid, and are paid once the JWKS is back; down for
//! good, a record is dead-lettered with its last reason after the configured checks.

use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus;
use zte_testkit::{
    events::Event,
    kafka,
    payments::{PaymentsSetup, WAIT},
    token_service::TokenService,
    tokens::test_key,
};

use crate::USER;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_never_loaded_keeps_health_not_serving_and_nothing_consumed() {
    let tokens = TokenService::start_unavailable().await;
    let setup = PaymentsSetup::new(&tokens.issuer, 1).await;
    let app = setup.spawn().await;
    let event = tokens.event(USER);
    setup.publish([&event]).await;
    // The refresher keeps asking; the consumer has not started (every record could only be
    // set aside).
    zte_testkit::wait_until("JWKS fetch attempts", WAIT, || {
        let asked = tokens.jwks_requests();
        async move { (asked >= 2).then_some(()) }
    })
    .await
    .unwrap();
    assert_eq!(app.readiness().await, ServingStatus::NotServing);
    assert_eq!(app.stats.snapshot().processed, 0);

    tokens.set_available(true);
    app.wait_stats("payment after the JWKS loads", |s| s.paid == 1)
        .await;
    app.wait_readiness(ServingStatus::Serving).await;
    let stats = app.stats.snapshot();
    assert_eq!((stats.dead_lettered, stats.set_aside), (0, 0));
    assert_eq!(kafka::record_count(setup.dlq()).await, 0);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_wait_on_the_retry_topic_while_the_jwks_is_down_and_valid_events_flow() {
    const EACH: usize = 20;
    let tokens = TokenService::start().await;
    let setup = PaymentsSetup::new(&tokens.issuer, 3).await;
    let app = setup.spawn().await;
    app.wait_readiness(ServingStatus::Serving).await;

    // The JWKS goes down; the issuer then rotates to a key no validator has fetched yet.
    tokens.set_available(false);
    let rotated = test_key();
    let mut valid = Vec::new();
    let mut waiting = Vec::new();
    for _ in 0..EACH {
        let new_kid = Event::signed(
            zte_testkit::events::order_created(USER),
            &rotated,
            &tokens.issuer,
        );
        setup.publish([&new_kid]).await;
        waiting.push(new_kid);
        let event = tokens.event(USER);
        setup.publish([&event]).await;
        valid.push(event);
    }
    // Every event signed with the cached key is paid while the JWKS is down: nothing waits
    // behind the records that cannot be checked.
    app.wait_stats("the valid events paid", |s| s.paid == EACH as u64)
        .await;
    for event in &valid {
        assert!(app.store.get(USER, event.id()).await.unwrap().is_some());
    }
    app.wait_stats("the new-kid records set aside", |s| {
        s.set_aside >= EACH as u64
    })
    .await;
    assert!(kafka::record_count(setup.retry()).await >= EACH as i64);
    assert_eq!(app.stats.snapshot().dead_lettered, 0);
    for event in &waiting {
        assert!(app.store.get(USER, event.id()).await.unwrap().is_none());
    }

    // The JWKS is back, with the new key: the set-aside records are paid.
    tokens.publish(&rotated);
    tokens.set_available(true);
    app.wait_stats("the set-aside records paid", |s| s.paid == 2 * EACH as u64)
        .await;
    for event in &waiting {
        assert!(app.store.get(USER, event.id()).await.unwrap().is_some());
    }
    assert_eq!(kafka::record_count(setup.dlq()).await, 0);
    assert_eq!(app.stats.snapshot().duplicate, 0);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_never_gets_checked_is_dead_lettered_after_its_last_attempt() {
    let tokens = TokenService::start().await;
    let mut setup = PaymentsSetup::new(&tokens.issuer, 1).await;
    setup.config.retry_max_attempts = 3;
    setup.config.retry_backoff = Duration::from_millis(100);
    setup.config.retry_backoff_max = Duration::from_millis(200);
    let app = setup.spawn().await;
    app.wait_readiness(ServingStatus::Serving).await;
    tokens.set_available(false);
    let stranger = Event::signed(
        zte_testkit::events::order_created(USER),
        &test_key(),
        &tokens.issuer,
    );
    let (_, offset) = setup.produce(&stranger.record()).await;
    let valid = tokens.event(USER);
    setup.publish([&valid]).await;

    app.wait_stats("dead-lettered after three checks", |s| s.dead_lettered == 1)
        .await;
    let dead = kafka::read_topic(setup.dlq(), 1, WAIT).await;
    let header = |name| kafka::header(&dead[0], name);
    assert_eq!(
        header(payments::HEADER_REASON).as_deref(),
        Some("keys_unavailable")
    );
    assert_eq!(header(payments::HEADER_ATTEMPTS).as_deref(), Some("3"));
    assert_eq!(
        header(payments::HEADER_SOURCE_TOPIC).as_deref(),
        Some(setup.topic())
    );
    assert_eq!(
        header(payments::HEADER_SOURCE_OFFSET),
        Some(offset.to_string())
    );
    assert_eq!(kafka::key_of(&dead[0]), stranger.id());
    // Two copies on the retry topic (after checks 1 and 2), none after the last one.
    assert_eq!(kafka::record_count(setup.retry()).await, 2);
    let stats = app.stats.snapshot();
    assert_eq!(
        (stats.paid, stats.set_aside, stats.dead_lettered),
        (1, 2, 1)
    );
    app.stop().await.unwrap();
}
