//! Two Orders replicas on one PostgreSQL database (issue 14, Orders ×N): concurrent retries
//! of one request spread over both give one order and one event; either replica reads any
//! order; a pending row left by a replica that is gone is sent by exactly one of them.

use std::{sync::Arc, time::Duration};

use zte_proto::orders::v1::ListOrdersRequest;
use zte_testkit::{
    clients::{ITEMS, order_request},
    database::TestDatabase,
    kafka,
    orders::{OrdersApp, OrdersSetup, order_store},
    token_service::TokenService,
};

use crate::{QUIET, order_request_with_id, write_pending_order};

/// Two replicas of one setup on a fresh PostgreSQL database (same topic, same client key).
async fn two_replicas(tokens: &TokenService) -> (Arc<TestDatabase>, [OrdersApp; 2]) {
    let database = Arc::new(TestDatabase::postgres().await);
    let setup = OrdersSetup::new(&tokens.issuer)
        .await
        .on_database(database.clone());
    let replicas = [setup.spawn().await, setup.spawn().await];
    (database, replicas)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_on_two_replicas_give_one_order_and_one_event() {
    let tokens = TokenService::start().await;
    let (_database, replicas) = two_replicas(&tokens).await;
    let token = tokens.user_token("alice");
    let request = order_request(ITEMS);

    // A client retrying aggressively, its calls spread over both replicas.
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let client = replicas[i % 2].client();
            let (token, request) = (token.clone(), request.clone());
            tokio::spawn(async move { client.create_order(&token, request).await })
        })
        .collect();
    let mut ids = Vec::new();
    for call in calls {
        ids.push(call.await.unwrap().unwrap().order_transaction_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one order for one request id: {ids:?}");
    let order_id = &ids[0];

    // Every replica answers for it, and lists it.
    for replica in &replicas {
        let got = replica.get_order(&token, order_id).await.unwrap();
        assert_eq!(&got.order_transaction_id, order_id);
        let listed = replica
            .list_orders(&token, ListOrdersRequest::default())
            .await
            .unwrap();
        let listed: Vec<_> = listed
            .orders
            .iter()
            .map(|o| &o.order_transaction_id)
            .collect();
        assert_eq!(listed, [order_id]);
    }
    // One event: the losers of the race answered with the winner's order.
    let records = kafka::drain_records(&replicas[0].consumer(), QUIET).await;
    let keys: Vec<_> = records.iter().map(kafka::key_of).collect();
    assert_eq!(keys, std::slice::from_ref(order_id));
    for replica in replicas {
        replica.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_row_of_a_replica_that_is_gone_is_sent_once_by_the_others() {
    let tokens = TokenService::start().await;
    let database = Arc::new(TestDatabase::postgres().await);
    // A replica wrote its row and died mid-send; its lease has run out.
    let request = order_request_with_id("orphaned-request");
    let (order_id, _) =
        write_pending_order(&order_store(&database).await, "alice", &request, 0).await;

    let setup = OrdersSetup::new(&tokens.issuer)
        .await
        .on_database(database.clone());
    let replicas = [setup.spawn().await, setup.spawn().await];
    let token = tokens.user_token("alice");
    for replica in &replicas {
        zte_testkit::wait_until(
            "the orphaned order visible",
            Duration::from_secs(30),
            || {
                let token = token.clone();
                let order_id = order_id.clone();
                async move { replica.get_order(&token, &order_id).await.ok() }
            },
        )
        .await
        .unwrap();
    }
    // Both relays looked; exactly one claimed and sent the row.
    let records = kafka::drain_records(&replicas[0].consumer(), QUIET).await;
    let keys: Vec<_> = records.iter().map(kafka::key_of).collect();
    assert_eq!(keys, std::slice::from_ref(&order_id), "sent once");
    // A retry through either replica returns it and sends nothing.
    let again = replicas[1].create_order(&token, request).await.unwrap();
    assert_eq!(again.order_transaction_id, order_id);
    assert_eq!(kafka::record_count(&replicas[0].topic).await, 1);
    for replica in replicas {
        replica.stop().await;
    }
}
