//! End-to-end flow through the real binaries and a real broker: a user's order becomes exactly
//! one payment, also under concurrency, and users only ever see their own data.

use std::{collections::HashSet, time::Duration};

use zte_e2e::Stack;
use zte_testkit::{
    clients::{order_ids_paid_once, order_request},
    tokens::DEMO_USERS,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_user_token_to_order_to_payment() -> anyhow::Result<()> {
    let stack = Stack::start_for_test().await?;
    let (user, password) = DEMO_USERS[0];
    let token = stack.user_token(user, password).await?;
    let orders = stack.orders_client().await?;
    let payments = stack.payments_client().await?;

    let order = orders
        .create_order(
            &token,
            order_request(&[("SKU-A", 2, 1_250), ("SKU-B", 1, 999)]),
        )
        .await?;
    assert_eq!(order.user_id, user);
    assert_eq!(order.total_minor, 2 * 1_250 + 999);
    assert_eq!(order.currency, "EUR");
    assert!(uuid::Uuid::parse_str(&order.order_transaction_id).is_ok());
    assert_eq!(
        orders
            .get_order(&token, &order.order_transaction_id)
            .await?,
        order
    );

    let payment = payments
        .wait_payment(&token, &order.order_transaction_id, Duration::from_secs(60))
        .await?;
    assert_eq!(payment.order_transaction_id, order.order_transaction_id);
    assert_eq!(payment.user_id, user);
    assert_eq!(payment.amount_minor, order.total_minor);
    assert_eq!(payment.currency, "EUR");
    assert_eq!(payment.triggered_by, "orders-service");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_orders_from_two_users_are_paid_exactly_once_each() -> anyhow::Result<()>
{
    const ORDERS: usize = 100;
    let stack = Stack::start_for_test().await?;
    let orders = stack.orders_client().await?;
    let payments = stack.payments_client().await?;
    let mut tokens = Vec::new();
    for (user, password) in DEMO_USERS {
        tokens.push((user, stack.user_token(user, password).await?));
    }

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..ORDERS {
        let (user, token) = tokens[i % tokens.len()].clone();
        let orders = orders.clone();
        tasks.spawn(async move {
            let request = order_request(&[("SKU-C", 1 + (i % 5) as u32, 100 + i as i64)]);
            orders
                .create_order(&token, request)
                .await
                .map(|order| (user, order))
        });
    }
    let mut created = Vec::new();
    while let Some(result) = tasks.join_next().await {
        created.push(result??);
    }
    assert_eq!(created.len(), ORDERS);
    let ids: HashSet<&str> = created
        .iter()
        .map(|(_, o)| o.order_transaction_id.as_str())
        .collect();
    assert_eq!(ids.len(), ORDERS, "every order has its own id");

    for (user, token) in &tokens {
        let mine: HashSet<String> = created
            .iter()
            .filter(|(owner, _)| owner == user)
            .map(|(_, o)| o.order_transaction_id.clone())
            .collect();
        let paid = payments
            .wait_payments(token, mine.len(), Duration::from_secs(120))
            .await?;
        let unique = order_ids_paid_once(&paid, user);
        assert_eq!(unique, mine, "{user} sees exactly their own payments");
        assert!(paid.iter().all(|p| p.user_id == *user));
        let listed: HashSet<String> = orders.all_order_ids(token).await?;
        assert_eq!(listed, mine, "{user} sees exactly their own orders");
    }
    Ok(())
}
