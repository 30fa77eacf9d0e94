//! Crash safety with the real binary: `kill -9` the payments process while it is consuming,
//! start it again on the same data directory and group, and every event ends up paid exactly
//! once (none lost, none doubled, none dead-lettered).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};

use common::{Event, TestIdentity, Topics, USER, WAIT, produce, producer, record_count};
use payments::PaymentStore;

/// The payments process, SIGKILLed when dropped so a failing test leaves nothing running.
struct Payments(Child);

impl Payments {
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

fn start_payments(
    identity: &TestIdentity,
    topics: &Topics,
    data_dir: &std::path::Path,
) -> Payments {
    let log = std::fs::File::create(
        data_dir.join(format!("payments-{}.log", uuid::Uuid::new_v4().simple())),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_payments"))
        .args(["--listen", "127.0.0.1:0"])
        .args(["--kafka-bootstrap", &zte_testkit::kafka_bootstrap()])
        .args(["--topic", &topics.topic])
        .args(["--dlq-topic", &topics.dlq])
        .args(["--group-id", &topics.group])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--issuer", &identity.issuer])
        .args(["--jwks-refresh-cooldown", "1s"])
        .env("RUST_LOG", "info,rdkafka=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(Payments)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_nothing_and_pays_nothing_twice() {
    const EVENTS: u64 = 300;
    let identity = TestIdentity::start(true).await;
    let topics = Topics::create(3).await;
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Event> = (0..EVENTS).map(|_| Event::valid(&identity, USER)).collect();
    let producer = producer();
    for event in &events {
        produce(&producer, &topics.topic, &event.record()).await;
    }
    let db = PaymentStore::open(&dir.path().join(payments::config::DATABASE_FILE))
        .await
        .unwrap();

    let mut first = start_payments(&identity, &topics, dir.path());
    zte_testkit::wait_until("some payments before the crash", WAIT, || {
        let db = db.clone();
        async move { (db.count().await.unwrap() >= 10).then_some(()) }
    })
    .await
    .unwrap();
    first.kill_9();
    let before_restart = db.count().await.unwrap();

    let mut second = start_payments(&identity, &topics, dir.path());
    let result = zte_testkit::wait_until("every event paid", WAIT, || {
        let db = db.clone();
        async move { (db.count().await.unwrap() == EVENTS).then_some(()) }
    })
    .await;
    second.kill_9();
    result.unwrap_or_else(|e| {
        let logs: Vec<String> = std::fs::read_dir(dir.path())
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
    assert_eq!(record_count(&topics.dlq), 0, "nothing dead-lettered");
    eprintln!("paid before kill -9: {before_restart} of {EVENTS}");
}
