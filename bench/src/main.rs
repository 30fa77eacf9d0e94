//! The flow benchmark: starts the real stack (release binaries, real Kafka), drives
//! CreateOrder from N concurrent clients for a bounded time on loopback, and prints
//! throughput and latency next to the ceilings measured in the same run on the same machine:
//! raw PS256 signs/s and verifies/s, and the Kafka producer's records/s with the same settings.
//!
//! `scripts/bench.sh` builds in release mode and runs this.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::Parser;
use hdrhistogram::Histogram;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tonic::transport::Channel;
use zte_auth::{AccessTokenClaims, SigningKey, claims::Audience, jws};
use zte_e2e::{
    DEMO_USERS, Stack,
    client::{create_order, list_payments, order_request},
};

/// Measures the order → payment flow against its ceilings.
#[derive(Debug, Parser)]
struct Args {
    /// Concurrent CreateOrder clients at full load.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Measured seconds per load phase (after warm-up).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Warm-up seconds before measuring.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Seconds per ceiling micro-measurement.
    #[arg(long, default_value_t = 3)]
    ceiling_seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    println!(
        "# zte-bench: {} clients, {}s measured after {}s warm-up, {cores} cores",
        args.clients, args.seconds, args.warmup
    );

    let ceiling = Duration::from_secs(args.ceiling_seconds);
    let (signs, verifies) = crypto_ceilings(ceiling, cores)?;
    println!("ceiling: PS256 sign   {signs:>10.0} /s ({cores} threads)");
    println!("ceiling: PS256 verify {verifies:>10.0} /s ({cores} threads)");

    let stack = Stack::start_for_test()
        .await
        .context("starting the stack")?;
    let producer_rate = kafka_ceiling(&stack.config.kafka, ceiling).await?;
    println!(
        "ceiling: Kafka idempotent producer (acks=all, ~1.3 KB records) {producer_rate:>10.0} records/s"
    );

    let mut tokens = Vec::new();
    for (user, password) in DEMO_USERS {
        tokens.push(stack.user_token(user, password).await?);
    }
    let orders = stack.orders_channel().await?;
    let payments = stack.payments_channel().await?;

    let full = drive(
        &orders,
        &tokens,
        args.clients,
        None,
        args.warmup,
        args.seconds,
    )
    .await?;
    let full_paid = payment_stats(&payments, &tokens, &full).await?;
    report("full load", &full, &full_paid);

    let half_rate = full.acked_per_second / 2.0;
    let half = drive(
        &orders,
        &tokens,
        args.clients,
        Some(half_rate),
        args.warmup,
        args.seconds,
    )
    .await?;
    let half_paid = payment_stats(&payments, &tokens, &half).await?;
    report(
        &format!("half load ({half_rate:.0} orders/s offered)"),
        &half,
        &half_paid,
    );

    let flow_ceiling = signs / 2.0;
    println!("\n| metric | value |\n|---|---|");
    println!("| PS256 signs/s (ceiling) | {signs:.0} |");
    println!("| PS256 verifies/s (ceiling) | {verifies:.0} |");
    println!("| Kafka producer records/s (ceiling) | {producer_rate:.0} |");
    println!(
        "| orders/s acknowledged (full load) | {:.1} |",
        full.acked_per_second
    );
    println!(
        "| payments/s completed (full load) | {:.1} |",
        full_paid.per_second
    );
    println!(
        "| flow ÷ (signs/s ÷ 2) | {:.0}% (target ≥ 50%) |",
        100.0 * full_paid.per_second.min(full.acked_per_second) / flow_ceiling
    );
    println!(
        "| CreateOrder p50/p90/p99/max, full load (ms) | {} |",
        quantiles(&full.latency_us)
    );
    println!(
        "| order→payment p50/p90/p99, full load (ms) | {} |",
        quantiles3(&full_paid.latency_ms)
    );
    println!(
        "| CreateOrder p50/p90/p99/max, half load (ms) | {} (target p99 ≤ 25) |",
        quantiles(&half.latency_us)
    );
    println!(
        "| order→payment p50/p90/p99, half load (ms) | {} (target p99 ≤ 100) |",
        quantiles3(&half_paid.latency_ms)
    );
    Ok(())
}

/// Raw PS256 signatures and verifications per second with the project's crypto (ring via
/// biscuit), on every core.
fn crypto_ceilings(window: Duration, threads: usize) -> anyhow::Result<(f64, f64)> {
    let key = Arc::new(SigningKey::generate(2048)?);
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
    let now = zte_auth::unix_now();
    AccessTokenClaims {
        iss: "http://bench".into(),
        sub: "demouser".into(),
        aud: Audience::One("payments-service".into()),
        exp: now + 3600,
        nbf: now,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        scope: "trigger_payments".into(),
        client_id: "orders-service".into(),
        act: Some(zte_auth::Actor {
            sub: "orders-service".into(),
        }),
        order_transaction_id: Some(uuid::Uuid::new_v4().to_string()),
        event_payload_hash: Some("0".repeat(64)),
    }
}

/// Records/s of the idempotent producer with the Orders settings, each send awaited
/// concurrently (64 in flight), ~1.3 KB values like a real envelope.
async fn kafka_ceiling(bootstrap: &str, window: Duration) -> anyhow::Result<f64> {
    let topic = zte_testkit::unique_name("bench-producer");
    zte_testkit::create_topic(bootstrap, &topic, 3).await?;
    let producer: FutureProducer =
        zte_runtime::idempotent_producer_config(bootstrap, "bench", Duration::from_secs(30))
            .create()?;
    let value = vec![0x5a_u8; 1_300];
    let start = Instant::now();
    let mut sent = 0u64;
    let mut in_flight = tokio::task::JoinSet::new();
    while start.elapsed() < window {
        while in_flight.len() < 64 {
            let (producer, topic, value) = (producer.clone(), topic.clone(), value.clone());
            let key = uuid::Uuid::new_v4().to_string();
            in_flight.spawn(async move {
                producer
                    .send(
                        FutureRecord::to(&topic).key(&key).payload(&value),
                        Duration::from_secs(30),
                    )
                    .await
                    .is_ok()
            });
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

struct Drive {
    acked_per_second: f64,
    latency_us: Histogram<u64>,
    /// Orders acknowledged in the measured window: id → token index.
    measured: HashMap<String, usize>,
    errors: u64,
    window: (i64, i64),
}

/// Runs `clients` loops of CreateOrder, optionally paced to `rate` orders/s overall.
async fn drive(
    orders: &Channel,
    tokens: &[String],
    clients: usize,
    rate: Option<f64>,
    warmup: u64,
    seconds: u64,
) -> anyhow::Result<Drive> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(warmup);
    let measure_to = measure_from + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (orders, stop) = (orders.clone(), stop.clone());
        let token_index = client % tokens.len();
        let token = tokens[token_index].clone();
        let interval = rate.map(|r| Duration::from_secs_f64(clients as f64 / r.max(0.1)));
        tasks.spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            let mut measured = Vec::new();
            let mut errors = 0u64;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if let Some(interval) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += interval;
                }
                let began = Instant::now();
                let result =
                    create_order(&orders, &token, order_request(&[("SKU-BENCH", 2, 1_999)])).await;
                let done = Instant::now();
                if began >= measure_from && done <= measure_to {
                    match result {
                        Ok(order) => {
                            let _ = hist.record(done.duration_since(began).as_micros() as u64);
                            measured.push((order.order_transaction_id, token_index));
                        }
                        Err(_) => errors += 1,
                    }
                }
            }
            anyhow::Ok((hist, measured, errors))
        });
    }
    tokio::time::sleep_until(measure_to.into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut latency_us = Histogram::<u64>::new(3)?;
    let mut measured = HashMap::new();
    let mut errors = 0;
    while let Some(result) = tasks.join_next().await {
        let (hist, ids, errs) = result??;
        latency_us.add(hist)?;
        measured.extend(ids);
        errors += errs;
    }
    let now_unix = zte_auth::unix_now();
    let elapsed_since_to = Instant::now().duration_since(measure_to).as_secs() as i64;
    let window_end = now_unix - elapsed_since_to;
    Ok(Drive {
        acked_per_second: measured.len() as f64 / seconds as f64,
        latency_us,
        measured,
        errors,
        window: (window_end - seconds as i64, window_end),
    })
}

struct Paid {
    per_second: f64,
    latency_ms: Histogram<u64>,
    missing: usize,
}

/// Waits for the measured orders' payments and computes order→payment latency from the event
/// timestamp (`order_created_at`) to the payment record (`recorded_at`).
async fn payment_stats(
    payments: &Channel,
    tokens: &[String],
    drive: &Drive,
) -> anyhow::Result<Paid> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut found = HashMap::new();
    while found.len() < drive.measured.len() && Instant::now() < deadline {
        for token in tokens {
            for payment in list_payments(payments, token).await? {
                if drive.measured.contains_key(&payment.order_transaction_id) {
                    found.insert(payment.order_transaction_id.clone(), payment);
                }
            }
        }
        if found.len() < drive.measured.len() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let mut latency_ms = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3)?;
    let (from, to) = drive.window;
    let mut in_window = 0u64;
    for payment in found.values() {
        let (Some(created), Some(recorded)) = (&payment.order_created_at, &payment.recorded_at)
        else {
            continue;
        };
        let ms = (recorded.seconds - created.seconds) * 1_000
            + i64::from(recorded.nanos - created.nanos) / 1_000_000;
        let _ = latency_ms.record(ms.max(1) as u64);
        if recorded.seconds >= from && recorded.seconds < to {
            in_window += 1;
        }
    }
    Ok(Paid {
        per_second: in_window as f64 / (to - from).max(1) as f64,
        latency_ms,
        missing: drive.measured.len() - found.len(),
    })
}

fn report(name: &str, drive: &Drive, paid: &Paid) {
    println!("\n## {name}");
    println!(
        "orders acknowledged: {} ({:.1}/s), errors: {}",
        drive.measured.len(),
        drive.acked_per_second,
        drive.errors
    );
    println!(
        "payments completed in window: {:.1}/s, missing after 120s: {}",
        paid.per_second, paid.missing
    );
    println!(
        "CreateOrder latency ms p50/p90/p99/max: {}",
        quantiles(&drive.latency_us)
    );
    println!(
        "order→payment latency ms p50/p90/p99: {}",
        quantiles3(&paid.latency_ms)
    );
}

fn quantiles(hist_us: &Histogram<u64>) -> String {
    let ms = |v: u64| v as f64 / 1_000.0;
    format!(
        "{:.1} / {:.1} / {:.1} / {:.1}",
        ms(hist_us.value_at_quantile(0.5)),
        ms(hist_us.value_at_quantile(0.9)),
        ms(hist_us.value_at_quantile(0.99)),
        ms(hist_us.max())
    )
}

fn quantiles3(hist_ms: &Histogram<u64>) -> String {
    format!(
        "{} / {} / {}",
        hist_ms.value_at_quantile(0.5),
        hist_ms.value_at_quantile(0.9),
        hist_ms.value_at_quantile(0.99)
    )
}
