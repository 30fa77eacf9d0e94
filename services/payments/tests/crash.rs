//! Crash safety with the real binary: `kill -9` the payments process while it is consuming,
//! start it again on the same data directory and group, and every event ends up paid exactly
//! once (none lost, none doubled, none dead-lettered).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};

use payments::PaymentStore;
use zte_testkit::{
    events::Event,
    kafka,
    payments::{PaymentsSetup, WAIT},
    token_service::TokenService,
    tokens::DEMO_USERS,
};

const USER: &str = DEMO_USERS[0].0;

/// The payments process, SIGKILLed when dropped so a failing test leaves nothing running.
struct Payments(Child);

impl Payments {
    /// The binary of this package (Cargo builds it for this test) on `setup`'s topics, group
    /// and data directory, logging to a file there.
    fn start(setup: &PaymentsSetup) -> Self {
        let config = &setup.config;
        let log = std::fs::File::create(
            setup
                .data_dir()
                .join(format!("payments-{}.log", uuid::Uuid::new_v4().simple())),
        )
        .unwrap();
        Command::new(env!("CARGO_BIN_EXE_payments"))
            .args(["--listen", "127.0.0.1:0", "--plaintext"])
            .args(["--kafka-bootstrap", &config.service.kafka_bootstrap])
            .args(["--topic", setup.topic()])
            .args(["--dlq-topic", setup.dlq()])
            .args(["--group-id", &config.group_id])
            .arg("--data-dir")
            .arg(setup.data_dir())
            .args(["--issuer", &config.service.issuer])
            .args(["--jwks-refresh-cooldown", "1s"])
            .env("RUST_LOG", "info,rdkafka=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map(Self)
            .unwrap()
    }

    fn kill_9(&mut self) {
        self.0.kill().unwrap(); // SIGKILL: no shutdown path runs.
        self.0.wait().unwrap();
    }
}

impl Drop for Payments {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_nothing_and_pays_nothing_twice() {
    const EVENTS: u64 = 300;
    let tokens = TokenService::start().await;
    let setup = PaymentsSetup::new(&tokens.issuer, 3).await;
    let events: Vec<Event> = (0..EVENTS).map(|_| tokens.event(USER)).collect();
    setup.publish(&events).await;
    let db = PaymentStore::connect(&setup.config.store_settings().unwrap())
        .await
        .unwrap();
    let paid = |done: fn(u64) -> bool| {
        let db = db.clone();
        async move { done(db.count().await.unwrap()).then_some(()) }
    };

    let mut first = Payments::start(&setup);
    zte_testkit::wait_until("some payments before the crash", WAIT, || paid(|n| n >= 10))
        .await
        .unwrap();
    first.kill_9();
    let before_restart = db.count().await.unwrap();

    let mut second = Payments::start(&setup);
    let result = zte_testkit::wait_until("every event paid", WAIT, || paid(|n| n == EVENTS)).await;
    second.kill_9();
    result.unwrap_or_else(|e| {
        let logs: Vec<String> = std::fs::read_dir(setup.data_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        panic!("{e}\n{}", logs.join("\n---\n"));
    });
    for event in &events {
        assert!(
            db.get(USER, event.id()).await.unwrap().is_some(),
            "event {} paid",
            event.id()
        );
    }
    assert_eq!(db.count().await.unwrap(), EVENTS);
    assert_eq!(
        kafka::record_count(setup.dlq()).await,
        0,
        "nothing dead-lettered"
    );
    eprintln!("paid before kill -9: {before_restart} of {EVENTS}");
}
