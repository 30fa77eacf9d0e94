//! Transport security of the real binaries: on a running TLS stack every port refuses a
//! plaintext client, a client certificate of another CA, and a client that does not trust the
//! PKI, while the genuine flow (all hops TLS, mutual TLS between the services) pays an
//! order; a service given an `http://` issuer on a non-loopback host, or asked to serve
//! plaintext on a non-loopback address, exits at start with one clear line.

use std::{process::Stdio, time::Duration};

use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use zte_e2e::{Stack, binaries::binary};
use zte_testkit::{
    clients::{Dial, channel, order_request},
    pki::{grpc_tls, https_client, pki},
    tokens::DEMO_USERS,
};

async fn grpc_answers(dial: Dial) -> bool {
    let Ok(channel) = channel(dial).await else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .is_ok()
}

async fn http_answers(client: &reqwest::Client, url: &str) -> bool {
    client.get(url).send().await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tls_port_refuses_plaintext_foreign_certificates_and_untrusting_clients()
-> anyhow::Result<()> {
    let stack = Stack::start_for_test().await?;
    let pki = pki();
    let config = &stack.config;
    assert!(config.issuer().starts_with("https://"));

    // The genuine flow over TLS: token over HTTPS, order and payment over gRPC+TLS, the token
    // exchange and the JWKS fetches between the services over mutual TLS.
    let (user, password) = DEMO_USERS[0];
    let token = stack.user_token(user, password).await?;
    let order = stack
        .orders_client()
        .await?
        .create_order(&token, order_request(&[("SKU-TLS", 1, 100)]))
        .await?;
    stack
        .payments_client()
        .await?
        .wait_payment(&token, &order.order_transaction_id, Duration::from_secs(60))
        .await?;

    let mut served: Vec<String> = Vec::new();
    let healthz = format!("{}/healthz", config.issuer());
    let plain_healthz = format!("http://{}/healthz", config.identity_addr);
    let foreign_client = pki.foreign_client();
    let http_cases = [
        (
            "identity: plaintext HTTP",
            https_client(&pki.ca(), None),
            plain_healthz,
        ),
        (
            "identity: client certificate of another CA",
            https_client(&pki.ca(), Some(&foreign_client)),
            healthz.clone(),
        ),
        (
            "identity: client trusting another CA",
            https_client(&pki.foreign_ca(), None),
            healthz.clone(),
        ),
    ];
    assert!(
        http_answers(&https_client(&pki.ca(), None), &healthz).await,
        "control: a user without a client certificate (optional client auth)"
    );
    for (case, client, url) in &http_cases {
        if http_answers(client, url).await {
            served.push(case.to_string());
        }
    }
    for (name, addr) in [
        ("orders", config.orders_addr),
        ("payments", config.payments_addr),
    ] {
        assert!(
            grpc_answers(Dial::tls(addr, grpc_tls(&pki.ca(), None))).await,
            "control: {name} over TLS"
        );
        let cases = [
            ("plaintext (h2c)", Dial::from(addr)),
            (
                "client certificate of another CA",
                Dial::tls(addr, grpc_tls(&pki.ca(), Some(&foreign_client))),
            ),
            (
                "client trusting another CA",
                Dial::tls(addr, grpc_tls(&pki.foreign_ca(), None)),
            ),
        ];
        for (case, dial) in cases {
            if grpc_answers(dial).await {
                served.push(format!("{name}: {case}"));
            }
        }
    }
    assert!(served.is_empty(), "served: {served:?}");
    Ok(())
}

/// Runs `binary args`, expecting it to exit non-zero at once; returns its stderr.
async fn refused_at_start(name: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(binary(name).await?)
            .args(args)
            .stdin(Stdio::null())
            .env("LOG_FORMAT", "text")
            .output(),
    )
    .await??;
    anyhow::ensure!(!output.status.success(), "{name} {args:?} started");
    Ok(String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn an_http_issuer_on_a_non_loopback_host_or_a_public_plaintext_listener_stops_the_service()
-> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let data_dir = data.path().display().to_string();
    let http_issuer = ["--plaintext", "--issuer", "http://identity.example:8080"];
    let public_plaintext = ["--plaintext", "--listen", "0.0.0.0:0"];
    let cases: [(&str, Vec<&str>, &str); 6] = [
        ("identity", http_issuer.to_vec(), "--issuer"),
        ("orders", http_issuer.to_vec(), "--issuer"),
        ("payments", http_issuer.to_vec(), "--issuer"),
        ("identity", public_plaintext.to_vec(), "--plaintext"),
        ("orders", public_plaintext.to_vec(), "--plaintext"),
        ("payments", public_plaintext.to_vec(), "--plaintext"),
    ];
    let mut failures = Vec::new();
    for (name, mut args, setting) in cases {
        args.extend(["--data-dir", &data_dir]);
        let stderr = refused_at_start(name, &args).await?;
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(setting)).collect();
        let clear = lines.len() == 1
            && (lines[0].contains("non-loopback") || lines[0].contains("loopback"));
        if !clear {
            failures.push(format!("{name} {args:?}: {stderr}"));
        }
    }
    assert!(
        failures.is_empty(),
        "unclear or missing refusals:\n{failures:#?}"
    );
    Ok(())
}
