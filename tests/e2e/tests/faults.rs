//! Fault tests: the broker, the payments process and the identity service fail while the
//! system is in use. Nothing acknowledged may be lost, nothing may be paid twice, and a
//! valid event is never dead-lettered because a dependency blinked; a publish whose outcome is
//! unknown (the broker stalls acknowledgements) is sent again, and its order, once paid, is
//! visible to its user.

use std::{collections::HashSet, time::Duration};

use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use zte_e2e::{PrivateBroker, Stack};
use zte_testkit::{
    clients::{order_ids_paid_once, order_request},
    events::{Event, order_created},
    forge, kafka,
    tokens::DEMO_USERS,
    wait,
};

const PAY_TIMEOUT: Duration = Duration::from_secs(90);

/// Waits until the caller's payments are exactly `expected` (by id), failing on duplicates.
async fn assert_paid_exactly_once(
    stack: &Stack,
    token: &str,
    expected: &HashSet<String>,
) -> anyhow::Result<()> {
    let payments = stack.payments_client().await?;
    let listed = payments
        .wait_payments(token, expected.len(), PAY_TIMEOUT)
        .await?;
    let unique = order_ids_paid_once(&listed, "the user");
    assert_eq!(
        &unique, expected,
        "payments are exactly the acknowledged orders"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_outage_fails_calls_unavailable_and_loses_no_acknowledged_order() -> anyhow::Result<()>
{
    let broker = PrivateBroker::start().await?;
    let stack = Stack::start_for_test_with(broker.bootstrap(), |c| {
        c.publish_timeout = Duration::from_secs(4)
    })
    .await?;
    let (user, password) = DEMO_USERS[0];
    let token = stack.user_token(user, password).await?;
    let orders = stack.orders_client().await?;
    let mut acknowledged = HashSet::new();

    for i in 0..5 {
        let order = orders
            .create_order(&token, order_request(&[("SKU-K", 1, 100 + i)]))
            .await?;
        acknowledged.insert(order.order_transaction_id);
    }

    broker.stop().await?;
    // Readiness follows the dependency: Orders reports NOT_SERVING while Kafka is gone.
    wait::wait_grpc_health(
        stack.config.orders_dial(),
        zte_proto::orders::v1::SERVICE_NAME,
        ServingStatus::NotServing,
        Duration::from_secs(30),
    )
    .await?;
    let mut refused = 0;
    for i in 0..3 {
        match orders
            .create_order(&token, order_request(&[("SKU-OUTAGE", 1, 200 + i)]))
            .await
        {
            Ok(order) => panic!(
                "order {} acknowledged while Kafka was down",
                order.order_transaction_id
            ),
            Err(status) => {
                assert_eq!(
                    status.code(),
                    Code::Unavailable,
                    "during the outage: {status:?}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 3);
    let visible_during: HashSet<String> = orders.all_order_ids(&token).await?;
    assert_eq!(
        visible_during, acknowledged,
        "no refused order is visible during the outage"
    );

    broker.restart().await?;
    stack.wait_healthy().await?;
    // Orders reconnects by itself; retry the first call after the restart until it succeeds.
    let order = zte_testkit::wait_until(
        "CreateOrder to succeed after the restart",
        PAY_TIMEOUT,
        || async {
            orders
                .create_order(&token, order_request(&[("SKU-AFTER", 1, 300)]))
                .await
                .ok()
        },
    )
    .await?;
    acknowledged.insert(order.order_transaction_id);
    for i in 0..4 {
        let order = orders
            .create_order(&token, order_request(&[("SKU-AFTER", 1, 301 + i)]))
            .await?;
        acknowledged.insert(order.order_transaction_id);
    }

    assert_paid_exactly_once(&stack, &token, &acknowledged).await?;
    // A refused order's event must not be delivered late (and paid) once Kafka is back.
    let payments = stack.payments_client().await?;
    let settled = zte_testkit::wait_until(
        "a late payment of a refused order",
        Duration::from_secs(5),
        || async {
            let listed = payments.all_payments(&token).await.ok()?;
            (listed.len() > acknowledged.len()).then_some(listed.len())
        },
    )
    .await;
    assert!(
        settled.is_err(),
        "a refused order was paid after the outage: {settled:?}"
    );
    let visible: HashSet<String> = orders.all_order_ids(&token).await?;
    assert_eq!(visible, acknowledged, "no refused order is visible");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_the_broker_never_acknowledged_stays_pending_and_its_paid_order_becomes_visible()
-> anyhow::Result<()> {
    let broker = PrivateBroker::start().await?;
    let stack = Stack::start_for_test_with(broker.bootstrap(), |c| {
        c.publish_timeout = Duration::from_secs(3)
    })
    .await?;
    let (user, password) = DEMO_USERS[0];
    let token = stack.user_token(user, password).await?;
    let orders = stack.orders_client().await?;
    let first = orders
        .create_order(&token, order_request(&[("SKU-BEFORE", 1, 100)]))
        .await?;

    // The broker takes the record and never answers: the outcome is unknown, so the caller
    // must not hear "refused" (the record may yet be paid) and the order stays in the outbox.
    broker.pause().await?;
    let request = order_request(&[("SKU-STALLED", 1, 150)]);
    let status = orders
        .create_order(&token, request.clone())
        .await
        .expect_err("acknowledged while the broker stalls");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("retry with the same request_id"),
        "the caller is told to retry, not that the order was refused: {status:?}"
    );
    broker.resume().await?;

    // Paid (the stalled record, or the relay's copy once its lease passed), exactly once,
    // and visible to its user without any retry.
    let payments = stack.payments_client().await?;
    let listed = payments.wait_payments(&token, 2, PAY_TIMEOUT).await?;
    let paid = order_ids_paid_once(&listed, "the user");
    assert!(paid.contains(&first.order_transaction_id));
    let visible = zte_testkit::wait_until("the paid order visible", PAY_TIMEOUT, || async {
        let visible = orders.all_order_ids(&token).await.ok()?;
        (visible == paid).then_some(visible)
    })
    .await?;
    // The retry the caller was told to make returns that order and pays nothing more.
    let again = orders.create_order(&token, request).await?;
    assert!(visible.contains(&again.order_transaction_id));
    assert_ne!(again.order_transaction_id, first.order_transaction_id);
    let more = zte_testkit::wait_until("a second payment", Duration::from_secs(5), || async {
        let listed = payments.all_payments(&token).await.ok()?;
        (listed.len() > 2).then_some(listed.len())
    })
    .await;
    assert!(more.is_err(), "paid again: {more:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_killed_with_sigkill_mid_stream_pays_every_order_exactly_once()
-> anyhow::Result<()> {
    const ORDERS: usize = 40;
    let mut stack = Stack::start_for_test().await?;
    let (user, password) = DEMO_USERS[0];
    let token = stack.user_token(user, password).await?;
    let orders = stack.orders_client().await?;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..ORDERS {
        let (orders, token) = (orders.clone(), token.clone());
        tasks.spawn(async move {
            orders
                .create_order(&token, order_request(&[("SKU-K9", 1, 10 + i as i64)]))
                .await
        });
    }
    let mut acknowledged = HashSet::new();
    let mut killed = false;
    let payments = stack.payments_client().await?;
    while let Some(result) = tasks.join_next().await {
        let order = result??;
        acknowledged.insert(order.order_transaction_id.clone());
        // Kill as soon as the first payments are recorded, while more events are queued.
        if !killed
            && payments
                .get_payment(&token, &order.order_transaction_id)
                .await
                .is_ok()
        {
            stack.payments.kill9().await?;
            killed = true;
        }
    }
    if !killed {
        // Every call returned before any payment: kill now, mid-consumption.
        let first = acknowledged.iter().next().cloned().unwrap_or_default();
        payments.wait_payment(&token, &first, PAY_TIMEOUT).await?;
        stack.payments.kill9().await?;
    }
    stack.payments.restart()?;
    stack.wait_healthy().await?;
    assert_paid_exactly_once(&stack, &token, &acknowledged).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_down_makes_create_order_unavailable_and_publishes_nothing() -> anyhow::Result<()>
{
    let mut stack = Stack::start_for_test().await?;
    let (user, password) = DEMO_USERS[0];
    let token = stack.user_token(user, password).await?;
    let orders = stack.orders_client().await?;
    let reader = kafka::consumer_from_start(&stack.config.kafka, &stack.config.topic)?;

    stack.identity.terminate(Duration::from_secs(15)).await?;
    let result = orders
        .create_order(&token, order_request(&[("SKU-ID", 1, 100)]))
        .await;
    assert_eq!(
        result.err().map(|s| s.code()),
        Some(Code::Unavailable),
        "CreateOrder with identity down"
    );
    let published = kafka::drain_records(&reader, Duration::from_secs(5)).await;
    assert!(
        published.is_empty(),
        "{} record(s) published while identity was down",
        published.len()
    );
    assert!(
        orders.all_orders(&token).await?.is_empty(),
        "a failed order is visible"
    );

    stack.identity.restart()?;
    stack.wait_healthy().await?;
    let order = orders
        .create_order(&token, order_request(&[("SKU-ID", 1, 100)]))
        .await?;
    assert_paid_exactly_once(&stack, &token, &HashSet::from([order.order_transaction_id])).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_outage_keeps_cached_keys_valid_and_a_new_kid_waits_for_the_jwks() -> anyhow::Result<()>
{
    let mut stack = Stack::start_for_test().await?;
    let issuer = stack.config.issuer();
    let (user, password) = DEMO_USERS[0];
    let token = stack.user_token(user, password).await?;
    let orders = stack.orders_client().await?;
    let first = orders
        .create_order(&token, order_request(&[("SKU-J", 1, 100)]))
        .await?;
    let payments = stack.payments_client().await?;
    payments
        .wait_payment(&token, &first.order_transaction_id, PAY_TIMEOUT)
        .await?;
    let identity_dir = stack.config.identity_dir();
    let current_key = forge::find_signing_key(&identity_dir, &forge::kid_of(&token));

    // JWKS (identity) goes down.
    stack.identity.terminate(Duration::from_secs(15)).await?;
    let producer = kafka::producer(&stack.config.kafka);
    let event = |key: &zte_auth::SigningKey| Event::signed(order_created(user), key, &issuer);

    // An event signed with the cached key is still verified and paid.
    let cached = event(&current_key);
    kafka::produce(&producer, &stack.config.topic, &cached.record()).await?;
    payments
        .wait_payment(&token, cached.id(), PAY_TIMEOUT)
        .await?;

    // A new key (rotation while the JWKS is unreachable): the event must wait, not be
    // dead-lettered, and be paid once the JWKS is back.
    let status = tokio::process::Command::new(zte_e2e::binary("identity").await?)
        .args(["rotate-key", "--data-dir"])
        .arg(&identity_dir)
        .status()
        .await?;
    assert!(status.success(), "identity rotate-key failed");
    let new_key = forge::signing_keys(&identity_dir)
        .into_iter()
        .find(|k| k.kid() != current_key.kid())
        .expect("rotation created a new key file");
    let fresh = event(&new_key);
    let new_id = fresh.id();
    kafka::produce(&producer, &stack.config.topic, &fresh.record()).await?;
    let waited = zte_testkit::wait_until(
        "payment with an unknown kid while the JWKS is down",
        Duration::from_secs(5),
        || async { payments.get_payment(&token, new_id).await.ok() },
    )
    .await;
    assert!(
        waited.is_err(),
        "paid without being able to fetch the new key"
    );

    stack.identity.restart()?;
    stack.wait_healthy().await?;
    payments.wait_payment(&token, new_id, PAY_TIMEOUT).await?;
    let dlq = kafka::consumer_from_start(&stack.config.kafka, &stack.config.dlq_topic)?;
    let dead = kafka::drain_records(&dlq, Duration::from_secs(3)).await;
    assert!(
        dead.is_empty(),
        "a valid event was dead-lettered during the JWKS outage"
    );
    Ok(())
}
