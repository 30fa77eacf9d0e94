//! Two Payments replicas in one consumer group on one PostgreSQL database (issue 14, Payments
//! ×N): whatever both of them read (replays, redeliveries after a rebalance, a replica leaving
//! mid-stream), each order is paid exactly once, because the database decides.

use std::sync::Arc;

use zte_testkit::{
    database::TestDatabase, events::Event, payments::PaymentsSetup, token_service::TokenService,
};

use crate::USER;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_pay_each_order_once_across_rebalances() {
    const EVENTS: usize = 60;
    let tokens = TokenService::start().await;
    let database = Arc::new(TestDatabase::postgres().await);
    let setup = PaymentsSetup::new(&tokens.issuer, 4)
        .await
        .on_database(database);
    let events: Vec<Event> = (0..EVENTS).map(|_| tokens.event(USER)).collect();
    let (first_third, second_third) = (&events[..EVENTS / 3], &events[EVENTS / 3..2 * EVENTS / 3]);

    let first = setup.spawn().await;
    setup.publish(first_third).await;
    // A second replica joins (the group rebalances) while replays of the first third and
    // new events arrive.
    let second = setup.spawn().await;
    setup.publish(first_third).await;
    setup.publish(second_third).await;
    // The first replica leaves mid-stream (another rebalance) while the rest arrives, then
    // every event once more.
    let feeder = {
        let (setup, events) = (setup.clone(), events.clone());
        tokio::spawn(async move {
            setup.publish(&events[2 * EVENTS / 3..]).await;
            setup.publish(&events).await;
        })
    };
    let first_stats = first.stats.clone();
    first.stop().await.unwrap();
    feeder.await.unwrap();

    let produced = (2 * EVENTS + EVENTS / 3) as u64;
    let first_done = first_stats.snapshot();
    second
        .wait_stats("every record handled by one replica or the other", |s| {
            first_done.processed + s.processed >= produced
        })
        .await;
    let second_done = second.stats.snapshot();
    assert_eq!(second.store.count().await.unwrap(), EVENTS as u64);
    assert_eq!(
        first_done.paid + second_done.paid,
        EVENTS as u64,
        "each order paid by exactly one replica ({first_done:?}, {second_done:?})"
    );
    assert_eq!(first_done.dead_lettered + second_done.dead_lettered, 0);
    for event in &events {
        assert!(second.store.get(USER, event.id()).await.unwrap().is_some());
    }
    second.stop().await.unwrap();
}
