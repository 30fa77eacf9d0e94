//! Valid events: paid once, readable only by their user, a replay counted as a duplicate, and
//! every event paid exactly once across a restart mid-stream.

use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use zte_proto::payments::v1::ListPaymentsRequest;
use zte_testkit::{
    clients::NO_TOKEN,
    events::{Event, ORDER_TOTAL_MINOR},
    kafka,
    payments::{PaymentsSetup, WAIT},
    token_service::TokenService,
};

use crate::{OTHER_USER, USER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_event_is_paid_once_and_only_its_user_can_read_it() {
    let tokens = TokenService::start().await;
    let setup = PaymentsSetup::new(&tokens.issuer, 1).await;
    let app = setup.spawn().await;
    app.wait_readiness(ServingStatus::Serving).await;

    let event = tokens.event(USER);
    setup.publish([&event]).await;
    app.wait_stats("payment recorded", |s| s.paid == 1).await;

    let user = tokens.user_token(USER);
    let payment = app.get_payment(&user, event.id()).await.unwrap();
    assert_eq!(payment.order_transaction_id, event.id());
    assert_eq!(payment.user_id, USER);
    assert_eq!(payment.amount_minor, ORDER_TOTAL_MINOR);
    assert_eq!(payment.currency, "EUR");
    assert_eq!(payment.triggered_by, "orders-service");
    assert_eq!(payment.order_created_at, event.order.created_at);
    assert!(payment.recorded_at.is_some_and(|t| t.seconds > 0));

    let listed = app
        .list_payments(&user, ListPaymentsRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.payments, vec![payment]);
    assert!(listed.next_page_token.is_empty());

    // Another user sees neither the payment nor a hint that it exists.
    let other = tokens.user_token(OTHER_USER);
    let status = app.get_payment(&other, event.id()).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let listed = app
        .list_payments(&other, ListPaymentsRequest::default())
        .await
        .unwrap();
    assert!(listed.payments.is_empty());

    // No token, an event token, a bad id, an unknown id.
    let status = app.get_payment(NO_TOKEN, event.id()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = app.get_payment(&event.token, event.id()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app.get_payment(&user, "not-a-uuid").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = app
        .get_payment(&user, &uuid::Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = app
        .list_payments(
            &user,
            ListPaymentsRequest {
                page_size: 101,
                page_token: String::new(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    assert_eq!(app.store.count().await.unwrap(), 1);
    assert_eq!(kafka::record_count(setup.dlq()).await, 0);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_record_is_paid_once_and_counted_as_duplicate() {
    let tokens = TokenService::start().await;
    let setup = PaymentsSetup::new(&tokens.issuer, 1).await;
    let app = setup.spawn().await;
    let event = tokens.event(USER);
    setup.publish([&event, &event, &event]).await;
    app.wait_stats("three records handled", |s| s.processed == 3)
        .await;
    let stats = app.stats.snapshot();
    assert_eq!(
        (stats.paid, stats.duplicate, stats.dead_lettered),
        (1, 2, 0)
    );
    assert_eq!(app.store.count().await.unwrap(), 1);
    assert_eq!(kafka::record_count(setup.dlq()).await, 0);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_id_spelled_two_ways_is_paid_once() {
    let tokens = TokenService::start().await;
    let setup = PaymentsSetup::new(&tokens.issuer, 1).await;
    let app = setup.spawn().await;
    let lower = tokens.event(USER);
    // The same order, its id in upper case everywhere (payload, token claim, record key):
    // each record is consistent, and both name one order.
    let mut upper_order = lower.order.clone();
    upper_order.order_transaction_id = lower.id().to_uppercase();
    let upper = tokens.event_for(upper_order);
    setup.publish([&upper, &lower]).await;
    app.wait_stats("both records handled", |s| s.processed == 2)
        .await;
    let stats = app.stats.snapshot();
    assert_eq!((stats.paid, stats.duplicate), (1, 1));
    assert_eq!(app.store.count().await.unwrap(), 1);
    // Stored and found under the canonical (lowercase) id, whichever spelling is asked for.
    let user = tokens.user_token(USER);
    for spelling in [lower.id().to_owned(), upper.id().to_owned()] {
        let payment = app.get_payment(&user, &spelling).await.unwrap();
        assert_eq!(payment.order_transaction_id, lower.id());
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_stream_pays_every_event_exactly_once() {
    const EVENTS: usize = 40;
    let tokens = TokenService::start().await;
    let setup = PaymentsSetup::new(&tokens.issuer, 3).await;
    let events: Vec<Event> = (0..EVENTS).map(|_| tokens.event(USER)).collect();
    setup.publish(&events[..EVENTS / 2]).await;

    let first = setup.spawn().await;
    first
        .wait_stats("first half paid", |s| s.paid as usize >= EVENTS / 2)
        .await;
    // Keep producing while the first instance shuts down and the second starts.
    let (feeder, second_half) = (setup.clone(), events[EVENTS / 2..].to_vec());
    let feeder = tokio::spawn(async move { feeder.publish(&second_half).await });
    let first_stats = first.stats.clone();
    first.stop().await.unwrap();
    let first_paid = first_stats.snapshot().paid;
    assert!(first_paid as usize >= EVENTS / 2);

    let second = setup.spawn().await;
    feeder.await.unwrap();
    let store = second.store.clone();
    zte_testkit::wait_until("every event paid", WAIT, || {
        let store = store.clone();
        async move { (store.count().await.unwrap() == EVENTS as u64).then_some(()) }
    })
    .await
    .unwrap();
    for event in &events {
        let paid = second.store.get(USER, event.id()).await.unwrap();
        assert!(paid.is_some(), "event {} paid", event.id());
    }
    let stats = second.stats.snapshot();
    assert_eq!(stats.dead_lettered, 0);
    assert_eq!(
        first_paid + stats.paid,
        EVENTS as u64,
        "each event paid by exactly one instance"
    );
    second.stop().await.unwrap();
}
