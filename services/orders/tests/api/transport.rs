//! The gRPC edge every service runs (`zte_grpc::GrpcServer`), attacked through Orders: TLS
//! only (plaintext, an untrusted server certificate, no client certificate or one of another
//! CA under mutual TLS: all refused), a renewed certificate served without a restart, and a
//! flood of CreateOrder beyond the concurrency limit shed with `RESOURCE_EXHAUSTED` while the
//! work behind the limit stays bounded even when the clients go away.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{net::TcpListener, sync::watch};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use zte_proto::orders::v1::orders_service_client::OrdersServiceClient;
use zte_runtime::{CertKey, ClientAuth, TlsConfig};
use zte_testkit::{
    clients::{Dial, ITEMS, authed, channel, order_request},
    orders::OrdersSetup,
    pki::{grpc_tls, pki},
    token_service::TokenService,
    wait,
};

/// A health check of the whole server through `dial`: `Ok(())` when it answered.
async fn health(dial: Dial) -> Result<(), String> {
    let channel = channel(dial).await.map_err(|e| format!("{e:#}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(drop)
        .map_err(|status| format!("{status:?}"))
}

fn tls_dial(addr: std::net::SocketAddr, ca: &std::path::Path, client: Option<&CertKey>) -> Dial {
    Dial::tls(addr, grpc_tls(ca, client))
}

#[tokio::test]
async fn with_mutual_tls_only_a_client_with_a_certificate_of_the_ca_is_served() {
    let pki = pki();
    let tokens = TokenService::start().await;
    let mut setup = OrdersSetup::new(&tokens.issuer).await;
    setup.config.service.tls = pki.mutual_tls("orders", ClientAuth::Required);
    let app = setup.spawn().await;
    let addr = app.addr;

    let gateway = pki.client("gateway");
    assert_eq!(
        health(tls_dial(addr, &pki.ca(), Some(&gateway))).await,
        Ok(()),
        "the control case"
    );
    let attempts = [
        ("plaintext (h2c) to the TLS port", Dial::from(addr)),
        ("no client certificate", tls_dial(addr, &pki.ca(), None)),
        (
            "client certificate of another CA (same subject as the admin)",
            tls_dial(addr, &pki.ca(), Some(&pki.foreign_client())),
        ),
        (
            "client trusting another CA",
            tls_dial(addr, &pki.foreign_ca(), Some(&gateway)),
        ),
    ];
    let mut served = Vec::new();
    for (case, dial) in attempts {
        if let Ok(()) = health(dial).await {
            served.push(case);
        }
    }
    assert!(served.is_empty(), "served: {served:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    let install = |pair: CertKey| {
        std::fs::copy(&pair.key, &key).unwrap();
        std::fs::copy(&pair.cert, &cert).unwrap();
    };
    install(pki.server("orders"));
    let tokens = TokenService::start().await;
    let mut setup = OrdersSetup::new(&tokens.issuer).await;
    let mut tls = TlsConfig::default();
    tls.tls_cert = Some(cert.clone());
    tls.tls_key = Some(key.clone());
    tls.tls_reload_interval = Duration::from_millis(100);
    setup.config.service.tls = tls;
    let app = setup.spawn().await;
    let addr = app.addr;
    assert_eq!(health(tls_dial(addr, &pki.ca(), None)).await, Ok(()));
    assert!(
        health(tls_dial(addr, &pki.foreign_ca(), None))
            .await
            .is_err()
    );

    install(pki.foreign_server());
    wait::wait_until(
        "the new certificate to be served",
        Duration::from_secs(20),
        || async { health(tls_dial(addr, &pki.foreign_ca(), None)).await.ok() },
    )
    .await
    .unwrap();
    assert!(
        health(tls_dial(addr, &pki.ca(), None)).await.is_err(),
        "old CA"
    );
    app.stop().await;
}

/// A token endpoint that accepts connections and never answers, counting them, until it is
/// released (the sender): then it closes what it holds and every later connection at once.
async fn black_hole() -> (String, Arc<AtomicUsize>, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let (release, mut released) = watch::channel(false);
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { return };
                    counter.fetch_add(1, Ordering::SeqCst);
                    if !*released.borrow() {
                        held.push(stream);
                    }
                }
                _ = released.changed() => held.clear(),
            }
        }
    });
    (url, accepted, release)
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_beyond_the_limit_is_shed_and_vanished_clients_leave_bounded_work() {
    const LIMIT: usize = 4;
    const FLOOD: usize = 300;
    let tokens = TokenService::start().await;
    let (endpoint, exchanges, release) = black_hole().await;
    let mut setup = OrdersSetup::new(&tokens.issuer).await;
    setup.config.service.token_endpoint = Some(endpoint);
    // Each admitted call hangs on the token exchange (its identity timeout is far away).
    setup.config.service.identity_timeout = Duration::from_secs(60);
    setup.config.service.grpc.max_concurrent_requests = LIMIT;
    let app = setup.spawn().await;
    let token = tokens.user_token("alice");
    let client = OrdersServiceClient::new(channel(app.dial.clone()).await.unwrap());

    let before = rss_kib();
    // Every caller gives up after 10 s (long before the identity timeout): the clients
    // vanish, their calls' work may not.
    let calls: Vec<_> = (0..FLOOD)
        .map(|_| {
            let mut client = client.clone();
            let mut request = authed(order_request(ITEMS), &token);
            request.set_timeout(Duration::from_secs(10));
            tokio::spawn(async move { client.create_order(request).await })
        })
        .collect();
    let mut codes = std::collections::HashMap::<Code, usize>::new();
    for call in calls {
        let code = call.await.unwrap().map_or_else(|s| s.code(), |_| Code::Ok);
        *codes.entry(code).or_default() += 1;
    }
    let after = rss_kib();
    let shed = codes.get(&Code::ResourceExhausted).copied().unwrap_or(0);
    // Shed at once, or given up by the client (its 10 s: the admitted ones, or calls still
    // queued on a heavily loaded machine); never served, never queued behind the limit.
    let other = FLOOD
        - shed
        - codes.get(&Code::DeadlineExceeded).copied().unwrap_or(0)
        - codes.get(&Code::Cancelled).copied().unwrap_or(0);
    assert_eq!(other, 0, "{codes:?}");
    assert!(shed >= FLOOD / 2, "shed {shed} of {FLOOD}: {codes:?}");
    // The work behind the limit: only the admitted calls ever reached the token endpoint.
    let reached = exchanges.load(Ordering::SeqCst);
    assert!(
        (1..=3 * LIMIT).contains(&reached),
        "{reached} token exchanges for a limit of {LIMIT}"
    );
    let grown_mib = after.saturating_sub(before) / 1024;
    eprintln!(
        "flood of {FLOOD}: {codes:?}; {reached} token exchanges; RSS {before} -> {after} KiB"
    );
    assert!(
        grown_mib < 64,
        "resident memory grew {grown_mib} MiB during the flood"
    );

    // While the abandoned work holds the places, more calls are still shed...
    let status = app
        .create_order(&token, order_request(ITEMS))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // ...and once it is done (the token endpoint now fails at once), calls are admitted again.
    release.send_replace(true);
    wait::wait_until(
        "a call to be admitted again",
        Duration::from_secs(60),
        || async {
            let status = app
                .create_order(&token, order_request(ITEMS))
                .await
                .unwrap_err();
            (status.code() == Code::Unavailable).then_some(())
        },
    )
    .await
    .unwrap();
    app.stop().await;
}
