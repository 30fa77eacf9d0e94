//! The order store suite, run once per backend (`NAME::sqlite`, `NAME::postgres`): the same
//! assertions hold for the embedded SQLite store and the PostgreSQL store several replicas
//! share (the outbox claims included).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::HashSet, sync::Arc};

use orders::store::{Inserted, Lease, OrderStatus, StoredOrder};
use zte_proto::orders::v1::Order;
use zte_testkit::{
    database::{Backend, TestDatabase},
    on_both_backends,
    orders::order_store,
};

fn row(user: &str, request: &str, hash: u8) -> StoredOrder {
    StoredOrder {
        order: Order {
            order_transaction_id: uuid::Uuid::new_v4().to_string(),
            user_id: user.into(),
            request_id: request.into(),
            currency: "EUR".into(),
            total_minor: 5,
            ..Order::default()
        },
        request_hash: vec![hash; 32],
        event_payload: vec![1, 2, 3],
        event_token: "t".into(),
        status: OrderStatus::Pending,
    }
}

fn lease(owner: &str, until_ms: i64) -> Lease {
    Lease {
        owner: owner.into(),
        until_ms,
    }
}

fn id(row: &StoredOrder) -> String {
    row.order.order_transaction_id.clone()
}

on_both_backends!(
    one_order_per_user_and_request_id_with_its_hash,
    only_published_orders_are_visible_newest_first,
    refusing_needs_the_lease_and_a_retry_takes_a_failed_order_back,
    the_relay_claims_each_expired_pending_row_once,
    concurrent_writers_of_one_request_get_one_order,
);

async fn one_order_per_user_and_request_id_with_its_hash(backend: Backend) {
    let db = TestDatabase::fresh(backend).await;
    let store = order_store(&db).await;
    let mine = lease("me", 100);
    let first = row("alice", "1", 7);
    let outcomes = store
        .insert_batch(
            &[first.clone(), row("bob", "1", 7), row("alice", "1", 9)],
            &mine,
            10,
        )
        .await
        .unwrap();
    assert_eq!(outcomes[..2], [Inserted::New, Inserted::New]);
    let Inserted::Existing(existing) = &outcomes[2] else {
        panic!(
            "a second row for (alice, 1) in one batch: {:?}",
            outcomes[2]
        );
    };
    assert_eq!(
        existing.as_ref(),
        &first,
        "the first row, with its own hash"
    );
    let again = store
        .insert_batch(&[row("alice", "1", 7)], &mine, 11)
        .await
        .unwrap();
    assert_eq!(again, [Inserted::Existing(Box::new(first.clone()))]);
    // Survives reconnecting.
    drop(store);
    let store = order_store(&db).await;
    assert_eq!(
        store.find_by_request("alice", "1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.find(&id(&first)).await.unwrap(), Some(first));
    assert_eq!(store.find_by_request("carol", "1").await.unwrap(), None);
}

async fn only_published_orders_are_visible_newest_first(backend: Backend) {
    let db = TestDatabase::fresh(backend).await;
    let store = order_store(&db).await;
    let rows: Vec<_> = (0..4).map(|i| row("alice", &i.to_string(), 1)).collect();
    store
        .insert_batch(&rows, &lease("me", 100), 10)
        .await
        .unwrap();
    let a = id(&rows[0]);
    assert_eq!(store.get_published("alice", &a).await.unwrap(), None);
    store
        .mark_published(&[id(&rows[0]), id(&rows[2]), id(&rows[3])], 20)
        .await
        .unwrap();
    assert!(store.mark_failed(&id(&rows[1]), "me", 21).await.unwrap());
    assert_eq!(
        store.get_published("alice", &a).await.unwrap(),
        Some(rows[0].order.clone())
    );
    assert_eq!(
        store.get_published("bob", &a).await.unwrap(),
        None,
        "not the owner"
    );
    let listed = store.list_published("alice", None, 2).await.unwrap();
    let requests: Vec<_> = listed.iter().map(|(_, o)| o.request_id.as_str()).collect();
    assert_eq!(requests, ["3", "2"]);
    let next = store
        .list_published("alice", Some(listed[1].0), 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].1.request_id, "0");
    assert_eq!(
        store.find(&id(&rows[1])).await.unwrap().unwrap().status,
        OrderStatus::Failed
    );
}

async fn refusing_needs_the_lease_and_a_retry_takes_a_failed_order_back(backend: Backend) {
    let db = TestDatabase::fresh(backend).await;
    let store = order_store(&db).await;
    let order = row("alice", "1", 1);
    let order_id = id(&order);
    store
        .insert_batch(&[order], &lease("a", 1_000), 10)
        .await
        .unwrap();
    assert!(
        !store.mark_failed(&order_id, "b", 20).await.unwrap(),
        "b holds no lease"
    );
    // While a's lease runs, nobody takes the row over.
    assert_eq!(
        store
            .take_over(&order_id, &lease("b", 5_000), 500)
            .await
            .unwrap(),
        None
    );
    // Once it has passed, b may (a crashed, say), and then a may no longer refuse it.
    let taken = store
        .take_over(&order_id, &lease("b", 5_000), 1_000)
        .await
        .unwrap();
    assert_eq!(taken.unwrap().status, OrderStatus::Pending);
    assert!(!store.mark_failed(&order_id, "a", 1_001).await.unwrap());
    assert!(store.mark_failed(&order_id, "b", 1_002).await.unwrap());
    // A failed order is taken back at once by a retry.
    let retried = store
        .take_over(&order_id, &lease("c", 9_000), 1_003)
        .await
        .unwrap();
    assert_eq!(retried.unwrap().status, OrderStatus::Pending);
    store
        .mark_published(std::slice::from_ref(&order_id), 1_004)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_over(&order_id, &lease("d", 9_000), 99_999)
            .await
            .unwrap(),
        None
    );
}

async fn the_relay_claims_each_expired_pending_row_once(backend: Backend) {
    let db = Arc::new(TestDatabase::fresh(backend).await);
    let store = order_store(&db).await;
    let expired: Vec<_> = (0..30).map(|i| row("alice", &format!("e{i}"), 1)).collect();
    let held = row("alice", "held", 1);
    let done = row("alice", "done", 1);
    store
        .insert_batch(&expired, &lease("dead", 50), 10)
        .await
        .unwrap();
    store
        .insert_batch(&[held.clone(), done.clone()], &lease("live", 10_000), 10)
        .await
        .unwrap();
    store.mark_published(&[id(&done)], 20).await.unwrap();

    // Two replicas' relays claim at the same moment, in small batches, until nothing is left.
    let mut relays = Vec::new();
    for name in ["r1", "r2"] {
        let store = order_store(&db).await;
        relays.push(tokio::spawn(async move {
            let mut claimed = Vec::new();
            loop {
                let batch = store
                    .claim_pending(&lease(name, 5_000), 100, 4)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return claimed;
                }
                claimed.extend(batch.iter().map(id));
            }
        }));
    }
    let mut all = Vec::new();
    for relay in relays {
        all.extend(relay.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), unique.len(), "a row claimed twice");
    let want: HashSet<_> = expired.iter().map(id).collect();
    assert_eq!(unique, want, "exactly the expired pending rows");
    // Claimed rows are leased again: not claimable until that lease passes too.
    assert!(
        store
            .claim_pending(&lease("r3", 9_000), 4_999, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let later = store
        .claim_pending(&lease("r3", 99_000), 10_001, 100)
        .await
        .unwrap();
    assert_eq!(
        later.len(),
        31,
        "the expired rows and the held one, once their leases passed"
    );
    // Freed leases make every pending row claimable at once (SQLite's restart).
    store.free_leases().await.unwrap();
    assert_eq!(
        store
            .claim_pending(&lease("r4", 1), 0, 100)
            .await
            .unwrap()
            .len(),
        31
    );
}

async fn concurrent_writers_of_one_request_get_one_order(backend: Backend) {
    let db = Arc::new(TestDatabase::fresh(backend).await);
    let mut writers = Vec::new();
    for _ in 0..4 {
        let store = order_store(&db).await;
        writers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for request in 0..20 {
                let mine = row("alice", &request.to_string(), 1);
                let outcome = loop {
                    match store
                        .insert_batch(std::slice::from_ref(&mine), &lease("w", 1), 1)
                        .await
                    {
                        Err(error) if error.is_transient() => continue,
                        other => break other.unwrap(),
                    }
                };
                outcomes.push((id(&mine), outcome.into_iter().next().unwrap()));
            }
            outcomes
        }));
    }
    let (mut written, mut answered) = (HashSet::new(), HashSet::new());
    for writer in writers {
        for (order_id, outcome) in writer.await.unwrap() {
            match outcome {
                Inserted::New => written.insert(order_id),
                Inserted::Existing(row) => answered.insert(id(&row)),
            };
        }
    }
    assert_eq!(written.len(), 20, "one order per request id");
    assert!(
        answered.is_subset(&written),
        "the others were answered with those orders"
    );
}
