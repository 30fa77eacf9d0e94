//! The payment store suite, run once per backend (`NAME::sqlite`, `NAME::postgres`): the same
//! assertions hold for the embedded SQLite store and the PostgreSQL store several replicas
//! share.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::HashMap, sync::Arc};

use payments::store::{PaymentRecord, RecordOutcome};
use zte_testkit::{
    database::{Backend, TestDatabase},
    on_both_backends,
    payments::payment_store,
};

use RecordOutcome::{Duplicate, Paid};

fn payment(id: &str, user: &str, at: i64) -> PaymentRecord {
    PaymentRecord {
        order_transaction_id: id.into(),
        user_id: user.into(),
        amount_minor: 1250,
        currency: "EUR".into(),
        order_created_at_ns: 1,
        recorded_at_ns: at,
        triggered_by: "orders-service".into(),
    }
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect()
}

on_both_backends!(
    a_batch_reports_outcomes_in_input_order_with_duplicates_inside_and_across_batches,
    a_failing_batch_records_nothing,
    one_payment_per_canonical_order_id,
    reads_are_per_user_newest_first_and_survive_reconnecting,
    concurrent_overlapping_batches_pay_each_order_once,
);

async fn a_batch_reports_outcomes_in_input_order_with_duplicates_inside_and_across_batches(
    backend: Backend,
) {
    let db = TestDatabase::fresh(backend).await;
    let store = payment_store(&db).await;
    let [a, b, c] = [0, 1, 2].map(|_| uuid::Uuid::new_v4().to_string());
    let first = store
        .record_batch(&[
            payment(&b, "u", 1),
            payment(&a, "u", 2),
            payment(&b, "u", 3),
        ])
        .await
        .unwrap();
    assert_eq!(first, [Paid, Paid, Duplicate]);
    let second = store
        .record_batch(&[payment(&c, "u", 4), payment(&a, "u", 5)])
        .await
        .unwrap();
    assert_eq!(second, [Paid, Duplicate]);
    assert_eq!(store.record_batch(&[]).await.unwrap(), []);
    assert_eq!(store.count().await.unwrap(), 3);
    // The first record of an order is the one kept.
    assert_eq!(store.get("u", &b).await.unwrap().unwrap().recorded_at_ns, 1);
}

async fn a_failing_batch_records_nothing(backend: Backend) {
    let db = TestDatabase::fresh(backend).await;
    let store = payment_store(&db).await;
    let ids = ids(3);
    let mut bad = payment(&ids[1], "u", 2);
    bad.amount_minor = -5;
    let error = store
        .record_batch(&[payment(&ids[0], "u", 1), bad, payment(&ids[2], "u", 3)])
        .await
        .unwrap_err();
    assert!(
        !error.is_transient(),
        "a constraint violation is permanent: {error}"
    );
    assert_eq!(
        store.count().await.unwrap(),
        0,
        "nothing of the batch is kept"
    );
    assert_eq!(store.record(payment(&ids[0], "u", 1)).await.unwrap(), Paid);
}

async fn one_payment_per_canonical_order_id(backend: Backend) {
    let db = TestDatabase::fresh(backend).await;
    let store = payment_store(&db).await;
    let id = uuid::Uuid::new_v4();
    let lower = id.hyphenated().to_string();
    let upper = lower.to_uppercase();
    let simple = id.simple().to_string();
    let outcomes = store
        .record_batch(&[payment(&upper, "u", 1), payment(&lower, "u", 2)])
        .await
        .unwrap();
    assert_eq!(outcomes, [Paid, Duplicate]);
    assert_eq!(
        store.record(payment(&simple, "u", 3)).await.unwrap(),
        Duplicate
    );
    let stored = store.get("u", &upper).await.unwrap().unwrap();
    assert_eq!(stored.order_transaction_id, lower, "stored canonical");
    assert_eq!(store.count().await.unwrap(), 1);
}

async fn reads_are_per_user_newest_first_and_survive_reconnecting(backend: Backend) {
    let db = TestDatabase::fresh(backend).await;
    let ids = ids(5);
    {
        let store = payment_store(&db).await;
        for (id, at) in ids.iter().zip([1, 3, 3, 2]) {
            store.record(payment(id, "u", at)).await.unwrap();
        }
        store.record(payment(&ids[4], "other", 9)).await.unwrap();
    }
    let store = payment_store(&db).await;
    assert_eq!(store.count().await.unwrap(), 5);
    assert_eq!(
        store.get("other", &ids[0]).await.unwrap(),
        None,
        "not the owner"
    );
    let first = store.list("u", None, 3).await.unwrap();
    let got: Vec<(i64, &str)> = first
        .iter()
        .map(|p| (p.recorded_at_ns, p.order_transaction_id.as_str()))
        .collect();
    let (hi, lo) = if ids[1] > ids[2] { (1, 2) } else { (2, 1) };
    assert_eq!(
        got,
        [
            (3, ids[hi].as_str()),
            (3, ids[lo].as_str()),
            (2, ids[3].as_str())
        ]
    );
    let last = first.last().unwrap();
    let cursor = (last.recorded_at_ns, last.order_transaction_id.clone());
    let rest = store.list("u", Some(cursor), 3).await.unwrap();
    assert_eq!(rest, [payment(&ids[0], "u", 1)]);
}

async fn concurrent_overlapping_batches_pay_each_order_once(backend: Backend) {
    let db = Arc::new(TestDatabase::fresh(backend).await);
    let ids = ids(60);
    // Two stores (two pools: two replicas) record overlapping batches in opposite orders.
    let mut writers = Vec::new();
    for replica in 0..2 {
        let store = payment_store(&db).await;
        let mut mine: Vec<String> = ids.clone();
        if replica == 1 {
            mine.reverse();
        }
        writers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for chunk in mine.chunks(7) {
                let batch: Vec<_> = chunk.iter().map(|id| payment(id, "u", 1)).collect();
                let result = loop {
                    match store.record_batch(&batch).await {
                        Err(error) if error.is_transient() => continue,
                        other => break other.unwrap(),
                    }
                };
                outcomes.extend(chunk.iter().cloned().zip(result));
            }
            outcomes
        }));
    }
    let mut paid: HashMap<String, usize> = HashMap::new();
    for writer in writers {
        for (id, outcome) in writer.await.unwrap() {
            *paid.entry(id).or_default() += usize::from(outcome == Paid);
        }
    }
    assert_eq!(paid.len(), ids.len());
    assert!(
        paid.values().all(|n| *n == 1),
        "each order paid once: {paid:?}"
    );
    let store = payment_store(&db).await;
    assert_eq!(store.count().await.unwrap(), ids.len() as u64);
}
