//! Identity's HTTP edge, attacked: HTTPS only (a plaintext client, a client that does not
//! trust the server's CA, a client without a certificate or with one of another CA are all
//! refused when mutual TLS is on), a renewed certificate served without a restart, an
//! `http://` issuer on a non-loopback host refused at start, and slow clients (slowloris)
//! cut off on time while token requests keep being served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use identity::{Application, IdentityError};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use zte_runtime::ClientAuth;
use zte_testkit::{
    identity::IdentitySetup,
    pki::{https_client, pki},
    tokens::DEMO_USERS,
    wait,
};

/// `GET {issuer}/healthz` with `client`: the status, or the error's full chain.
async fn healthz(client: &reqwest::Client, base: &str) -> Result<u16, String> {
    match client.get(format!("{base}/healthz")).send().await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(error) => {
            let mut chain = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                chain.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            Err(chain)
        }
    }
}

#[tokio::test]
async fn with_mutual_tls_only_a_client_with_a_certificate_of_the_ca_is_served() {
    let pki = pki();
    let mut setup = IdentitySetup::new();
    setup.config.tls = pki.mutual_tls("identity", ClientAuth::Required);
    let app = setup.spawn().await;
    let https = app.issuer.clone();
    assert!(https.starts_with("https://"), "{https}");
    let plain = format!("http://{}", app.addr);

    let good = https_client(&pki.ca(), Some(&pki.client("orders")));
    assert_eq!(healthz(&good, &https).await, Ok(200), "the control case");

    let refused = [
        (
            "plaintext HTTP to the TLS port",
            healthz(&good, &plain).await,
        ),
        (
            "no client certificate",
            healthz(&https_client(&pki.ca(), None), &https).await,
        ),
        (
            "client certificate of another CA (same subject as the admin)",
            healthz(
                &https_client(&pki.ca(), Some(&pki.foreign_client())),
                &https,
            )
            .await,
        ),
        (
            "client trusting another CA",
            healthz(
                &https_client(&pki.foreign_ca(), Some(&pki.client("orders"))),
                &https,
            )
            .await,
        ),
    ];
    let served: Vec<_> = refused
        .iter()
        .filter(|(_, result)| result.is_ok())
        .map(|(case, result)| format!("{case}: {result:?}"))
        .collect();
    assert!(served.is_empty(), "served: {served:#?}");
    // The certificate is what the client refused, not something else.
    let (_, untrusted) = &refused[3];
    let untrusted = untrusted.as_ref().unwrap_err();
    assert!(
        untrusted.contains("certificate") || untrusted.contains("UnknownIssuer"),
        "{untrusted}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    let install = |pair: zte_runtime::CertKey| {
        // Key first, then the certificate: a reload in between sees a pair that does not
        // match, which must keep the current one (and be retried).
        std::fs::copy(&pair.key, &key).unwrap();
        std::fs::copy(&pair.cert, &cert).unwrap();
    };
    install(pki.server("identity"));
    let mut setup = IdentitySetup::new();
    setup.config.tls = zte_runtime::TlsConfig::default();
    setup.config.tls.tls_cert = Some(cert.clone());
    setup.config.tls.tls_key = Some(key.clone());
    setup.config.tls.tls_reload_interval = Duration::from_millis(100);
    let app = setup.spawn().await;
    let (ours, theirs) = (
        https_client(&pki.ca(), None),
        https_client(&pki.foreign_ca(), None),
    );
    assert_eq!(healthz(&ours, &app.issuer).await, Ok(200));
    assert!(healthz(&theirs, &app.issuer).await.is_err());

    // The "renewal": a certificate of another CA, so the switch is visible to a client.
    install(pki.foreign_server());
    wait::wait_until(
        "the new certificate to be served",
        Duration::from_secs(20),
        || async {
            let fresh = https_client(&pki.foreign_ca(), None);
            (healthz(&fresh, &app.issuer).await == Ok(200)).then_some(())
        },
    )
    .await
    .unwrap();
    let stale = https_client(&pki.ca(), None);
    assert!(healthz(&stale, &app.issuer).await.is_err(), "old CA");
    app.stop().await;
}

#[tokio::test]
async fn an_http_issuer_on_a_non_loopback_host_or_a_plaintext_public_listener_is_refused() {
    let mut setup = IdentitySetup::new();
    setup.config.issuer = Some("http://identity.example:8080".into());
    let error = Application::build(setup.config).await.unwrap_err();
    let line = error.to_string();
    assert!(matches!(error, IdentityError::Config(_)), "{line}");
    assert!(
        line.contains("--issuer") && line.contains("non-loopback"),
        "{line}"
    );
    assert!(!line.contains('\n'), "one line: {line}");

    let mut setup = IdentitySetup::new();
    setup.config.listen = "0.0.0.0:0".parse().unwrap();
    let line = Application::build(setup.config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        line.contains("--plaintext") && line.contains("loopback"),
        "{line}"
    );
}

/// A client that sends the start of a request and then one header byte every `pause`,
/// forever; returns how long the server took to close the connection (`None`: not within
/// `give_up`).
async fn slowloris(
    addr: std::net::SocketAddr,
    pause: Duration,
    give_up: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /token HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    while started.elapsed() < give_up {
        if stream.write_all(b"X").await.is_err() {
            return Some(started.elapsed());
        }
        // EOF or an error: closed. An answer (408) is followed by the close.
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(pause, stream.read(&mut buf)).await {
            return Some(started.elapsed());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_on_time_and_tokens_keep_being_served() {
    let header_timeout = Duration::from_secs(1);
    let mut setup = IdentitySetup::new();
    setup.config.limits.handshake_timeout = header_timeout;
    setup.config.limits.request_timeout = Duration::from_secs(2);
    setup.config.limits.idle_timeout = Duration::from_secs(3);
    setup.config.limits.max_connections = 64;
    let app = setup.spawn().await;

    // 40 slow clients, each dribbling a header byte every 100 ms.
    let attackers: Vec<_> = (0..40)
        .map(|_| {
            tokio::spawn(slowloris(
                app.addr,
                Duration::from_millis(100),
                Duration::from_secs(30),
            ))
        })
        .collect();
    // Meanwhile, genuine token requests are answered.
    let (user, password) = DEMO_USERS[0];
    for _ in 0..5 {
        let started = Instant::now();
        let reply = app.password_grant(user, password, "orders").await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    let mut closed_after = Vec::new();
    for attacker in attackers {
        closed_after.push(attacker.await.unwrap().expect("closed within 30 s"));
    }
    let slowest = closed_after.iter().max().unwrap();
    eprintln!(
        "slowloris: {} connections closed after {:?} .. {slowest:?}",
        closed_after.len(),
        closed_after.iter().min().unwrap()
    );
    // Closed by the header-read timeout, not by the request or idle timeout much later.
    assert!(
        *slowest >= header_timeout && *slowest < Duration::from_secs(10),
        "slowest close after {slowest:?}"
    );

    // A connection that sends nothing at all is closed by the idle timeout.
    let started = Instant::now();
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_the_tls_handshake_is_closed_on_time() {
    let pki = pki();
    let mut setup = IdentitySetup::new();
    setup.config.tls = pki.tls("identity");
    setup.config.limits.handshake_timeout = Duration::from_millis(500);
    let app = setup.spawn().await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    // Half a ClientHello record header, then nothing.
    stream.write_all(&[0x16, 0x03]).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(10),
        "closed after {waited:?}"
    );
    let client = https_client(&pki.ca(), None);
    assert_eq!(
        healthz(&client, &app.issuer).await,
        Ok(200),
        "still serving"
    );
    app.stop().await;
}
