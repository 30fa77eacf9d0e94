//! The storm benchmark (`scripts/bench.sh storm`): how long a storm of forged records on the
//! event topic, produced by an insider with write access, delays the next genuine order.
//!
//! For each storm size: the forged records (`zte_testkit::storm`: unknown kids, garbage,
//! `alg: none` with spoofed dead-letter headers, in turn; no oversized ones, whose size would
//! only measure the broker) are produced to the event topic, then one genuine order is
//! created through Orders at once. Printed: the genuine order's order→payment latency (from
//! the payment's own timestamps), how long until the whole storm is dead-lettered, and the
//! CPU Payments spent per forged record. Before issue 13, each unknown kid made the consumer
//! sleep one JWKS cooldown, so 30 of them delayed the next payment by ~29 s at a 1 s cooldown.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use zte_e2e::Stack;
use zte_testkit::{
    clients::order_request,
    kafka,
    storm::{self, Forgery},
    tokens::DEMO_USERS,
};

use crate::cpu::{Processes, load_average};

/// Measures what a storm of forged records costs the next genuine order.
#[derive(Debug, clap::Args)]
pub(crate) struct StormArgs {
    /// Storm sizes (forged records), measured one after another on the same stack.
    #[arg(long, value_delimiter = ',', default_value = "0,30,1000,10000")]
    forged: Vec<usize>,
    /// Longest wait for a payment, and for a storm's dead letters.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

pub(crate) async fn run(args: StormArgs) -> anyhow::Result<()> {
    let stack = Stack::start_for_test()
        .await
        .context("starting the stack")?;
    let processes = Processes::of(&stack);
    println!(
        "# zte-bench storm: storms of {:?} forged records, JWKS refresh cooldown 1 s (the e2e stack's), load average at start {}",
        args.forged,
        load_average()
    );
    let (user, password) = DEMO_USERS[0];
    let token = stack.user_token(user, password).await?;
    let orders = stack.orders_client().await?;
    let payments = stack.payments_client().await?;
    let producer = kafka::producer(&stack.config.kafka);
    let timeout = Duration::from_secs(args.timeout);
    let topic = &stack.config.topic;
    let dlq = &stack.config.dlq_topic;

    // One order end to end first, so that no measurement includes start-up.
    let warmup = orders
        .create_order(&token, order_request(&[("SKU-STORM", 1, 100)]))
        .await?;
    payments
        .wait_payment(&token, &warmup.order_transaction_id, timeout)
        .await?;

    println!(
        "\n| forged records | produced in (s) | next genuine order → paid (ms) | storm dead-lettered after (s) | Payments CPU per forged record (ms) |\n|---|---|---|---|---|"
    );
    let mut dead_lettered = kafka::record_count(dlq).await;
    for &count in &args.forged {
        // Every kind but the oversized one, `count` records.
        let forged: Vec<kafka::Record> = storm::storm(count * 4 / 3 + 4, &stack.config.issuer(), 0)
            .into_iter()
            .filter(|f| f.kind != Forgery::Oversized)
            .take(count)
            .map(|f| f.record)
            .collect();
        let cpu_before = payments_cpu(&processes);
        let started = Instant::now();
        kafka::produce_all(&producer, topic, &forged).await?;
        let produced = started.elapsed();
        let order = orders
            .create_order(&token, order_request(&[("SKU-STORM", 2, 1_999)]))
            .await?;
        let payment = payments
            .wait_payment(&token, &order.order_transaction_id, timeout)
            .await?;
        let paid_ms = match (&payment.order_created_at, &payment.recorded_at) {
            (Some(created), Some(recorded)) => {
                let nanos = (recorded.seconds - created.seconds) * 1_000_000_000
                    + i64::from(recorded.nanos - created.nanos);
                nanos as f64 / 1e6
            }
            _ => f64::NAN,
        };
        dead_lettered += count as i64;
        let target = dead_lettered;
        zte_testkit::wait_until("the storm dead-lettered", timeout, || async {
            (kafka::record_count(dlq).await >= target).then_some(())
        })
        .await?;
        let storm_done = started.elapsed();
        let cpu_ms = 1e3 * (payments_cpu(&processes) - cpu_before) / count.max(1) as f64;
        println!(
            "| {count} | {:.1} | {paid_ms:.1} | {:.1} | {} |",
            produced.as_secs_f64(),
            storm_done.as_secs_f64(),
            if count == 0 {
                "-".to_owned()
            } else {
                format!("{cpu_ms:.3}")
            }
        );
    }
    println!("load average at end: {}", load_average());
    Ok(())
}

fn payments_cpu(processes: &Processes) -> f64 {
    processes
        .cpu_seconds()
        .into_iter()
        .find(|(name, _)| *name == "payments")
        .map_or(0.0, |(_, seconds)| seconds)
}
