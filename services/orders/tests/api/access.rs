//! Who may call and what they see: every kind of bad credential gets its code, and users see
//! only their own orders, newest first, in pages.

use tonic::Code;
use zte_auth::claims::Audience;
use zte_proto::orders::v1::ListOrdersRequest;
use zte_testkit::{
    clients::{ITEMS, NO_TOKEN, order_request},
    orders::OrdersApp,
    token_service::TokenService,
};

use crate::{assert_nothing_published, spawn_with_consumer};

#[tokio::test]
async fn every_kind_of_bad_credential_is_refused_with_the_right_code() {
    let (tokens, app, consumer) = spawn_with_consumer().await;

    // No credentials at all.
    let status = app
        .create_order(NO_TOKEN, order_request(ITEMS))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "none: {status:?}");

    let now = zte_auth::unix_now();
    let mut expired = tokens.user_claims("alice");
    expired.exp = now - 3600;
    expired.iat = now - 7200;
    expired.nbf = now - 7200;
    let mut wrong_issuer = tokens.user_claims("alice");
    wrong_issuer.iss = "http://evil.example".into();
    let mut wrong_audience = tokens.user_claims("alice");
    wrong_audience.aud = Audience::One("payments-service".into());
    let mut event_token = tokens.user_claims("alice");
    event_token.scope = "trigger_payments".into();
    event_token.aud = Audience::One("payments-service".into());
    event_token.order_transaction_id = Some(uuid::Uuid::new_v4().to_string());
    event_token.event_payload_hash = Some("0".repeat(64));
    let mut no_orders_scope = tokens.user_claims("alice");
    no_orders_scope.scope = "payments".into();

    let (unauthenticated, denied) = (Code::Unauthenticated, Code::PermissionDenied);
    let cases = [
        ("garbage", "not.a.jwt".to_owned(), unauthenticated),
        ("expired", tokens.sign(&expired), unauthenticated),
        ("wrong issuer", tokens.sign(&wrong_issuer), unauthenticated),
        (
            "wrong audience",
            tokens.sign(&wrong_audience),
            unauthenticated,
        ),
        ("event token", tokens.sign(&event_token), denied),
        ("no orders scope", tokens.sign(&no_orders_scope), denied),
    ];
    for (what, token, code) in cases {
        let status = app
            .create_order(&token, order_request(ITEMS))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{what}: {status:?}");
        let status = app
            .list_orders(&token, ListOrdersRequest::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{what} (list): {status:?}");
    }
    assert_nothing_published(&app, &consumer).await;
    app.stop().await;
}

#[tokio::test]
async fn users_see_only_their_own_orders_newest_first_in_pages() {
    let tokens = TokenService::start().await;
    let app = OrdersApp::spawn(&tokens.issuer).await;
    let alice = tokens.user_token("alice");
    let bob = tokens.user_token("bob");

    let mut created = Vec::new();
    for _ in 0..3 {
        let order = app
            .create_order(&alice, order_request(ITEMS))
            .await
            .unwrap();
        created.push(order.order_transaction_id);
    }
    let bobs = app.create_order(&bob, order_request(ITEMS)).await.unwrap();

    // Bob cannot read Alice's order: NOT_FOUND, no data.
    let status = app.get_order(&bob, &created[0]).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(!status.message().contains("alice"));
    // Unknown id: NOT_FOUND; not a UUID: INVALID_ARGUMENT naming the field.
    let status = app
        .get_order(&alice, &uuid::Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = app.get_order(&alice, "not-a-uuid").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("order_transaction_id"));

    // Alice's list: her three, newest first, two pages of two.
    let page = |page_token: String| ListOrdersRequest {
        page_size: 2,
        page_token,
    };
    let first = app.list_orders(&alice, page(String::new())).await.unwrap();
    let ids: Vec<_> = first
        .orders
        .iter()
        .map(|o| o.order_transaction_id.clone())
        .collect();
    assert_eq!(ids, [created[2].clone(), created[1].clone()]);
    assert!(!first.next_page_token.is_empty());
    let second = app
        .list_orders(&alice, page(first.next_page_token))
        .await
        .unwrap();
    let ids: Vec<_> = second
        .orders
        .iter()
        .map(|o| o.order_transaction_id.clone())
        .collect();
    assert_eq!(ids, [created[0].clone()]);
    assert!(second.next_page_token.is_empty());

    let bob_list = app
        .list_orders(&bob, ListOrdersRequest::default())
        .await
        .unwrap();
    assert_eq!(bob_list.orders.len(), 1);
    assert_eq!(
        bob_list.orders[0].order_transaction_id,
        bobs.order_transaction_id
    );

    let status = app
        .list_orders(
            &alice,
            ListOrdersRequest {
                page_size: 0,
                page_token: "garbage".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("page_token"));
    app.stop().await;
}
