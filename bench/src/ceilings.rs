//! The ceilings the flow is measured against, on the same machine in the same run: raw PS256
//! signatures and verifications per second, and the Kafka producer's records per second with
//! the Orders settings.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rdkafka::producer::{FutureProducer, FutureRecord};
use zte_auth::{AccessTokenClaims, KeySpec, SigningKey, jws};
use zte_testkit::{events::order_created, tokens::event_claims};

/// RSA modulus size of the identity service's signing key (its default `--key-bits`, which
/// the stack started here uses).
pub(crate) const IDENTITY_KEY_BITS: usize = identity::config::DEFAULT_KEY_BITS;

/// Raw PS256 signatures and verifications per second with the project's signing code
/// (`zte_auth::jws`, ring underneath), on `threads` threads, with a fresh `bits`-bit key.
pub(crate) fn crypto_ceilings(
    window: Duration,
    threads: usize,
    bits: usize,
) -> anyhow::Result<(f64, f64)> {
    let key = Arc::new(SigningKey::generate(KeySpec::Ps256 { bits })?);
    let claims = sample_claims();
    let token = jws::sign(&key, "at+jwt", &claims)?;
    let signs = parallel_rate(threads, window, {
        let key = key.clone();
        let claims = claims.clone();
        move || jws::sign(&key, "at+jwt", &claims).is_ok()
    });
    let verifies = parallel_rate(threads, window, move || {
        jws::verify::<AccessTokenClaims>(&token, key.verifying_key()).is_ok()
    });
    Ok((signs, verifies))
}

fn parallel_rate(
    threads: usize,
    window: Duration,
    op: impl Fn() -> bool + Send + Sync + 'static,
) -> f64 {
    let op = Arc::new(op);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let op = op.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed() < window {
                    if op() {
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

fn sample_claims() -> AccessTokenClaims {
    event_claims("http://bench", &order_created("demouser"), &"0".repeat(64))
}

/// Records/s of the idempotent producer with the Orders settings, each send awaited
/// concurrently (64 in flight), 1.3 KB values like a real envelope, into a fresh 3-partition
/// topic like the event topic.
pub(crate) async fn kafka_ceiling(bootstrap: &str, window: Duration) -> anyhow::Result<f64> {
    let topic = zte_testkit::unique_name("bench-producer");
    zte_testkit::kafka::create_topic(bootstrap, &topic, 3).await?;
    let producer: FutureProducer =
        zte_kafka::idempotent_producer_config(bootstrap, "bench", Duration::from_secs(30))
            .create()?;
    let value = vec![0x5a_u8; 1_300];
    let send = |producer: FutureProducer, topic: String, value: Vec<u8>| async move {
        let key = uuid::Uuid::new_v4().to_string();
        producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .is_ok()
    };
    // Connect and learn the partition leaders before timing.
    anyhow::ensure!(
        send(producer.clone(), topic.clone(), value.clone()).await,
        "the Kafka producer ceiling could not deliver a record"
    );
    let start = Instant::now();
    let mut sent = 0u64;
    let mut in_flight = tokio::task::JoinSet::new();
    while start.elapsed() < window {
        while in_flight.len() < 64 {
            in_flight.spawn(send(producer.clone(), topic.clone(), value.clone()));
        }
        if let Some(Ok(true)) = in_flight.join_next().await {
            sent += 1;
        }
    }
    while let Some(result) = in_flight.join_next().await {
        if matches!(result, Ok(true)) {
            sent += 1;
        }
    }
    Ok(sent as f64 / start.elapsed().as_secs_f64())
}
