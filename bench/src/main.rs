//! The flow benchmark: starts the real stack (release binaries, real Kafka), drives
//! CreateOrder from N concurrent clients for a bounded time on loopback, and prints
//! throughput and latency next to the ceilings measured in the same run on the same machine:
//! raw PS256 signs/s and verifies/s, and the Kafka producer's records/s with the same settings.
//! It also attributes CPU time to each process (identity, orders, payments, the Kafka broker,
//! this load generator) over each measured window, from `/proc/<pid>/stat`.
//!
//! Two load phases, each `--warmup` seconds of load, then `--seconds` measured, then a drain
//! (every acknowledged order's payment must appear, bounded by `--drain-timeout`):
//! 1. full load: `--clients` closed-loop clients, each sending its next CreateOrder as soon as
//!    the previous one is answered;
//! 2. half load: the same clients paced open-loop at half the rate measured in phase 1, their
//!    send times staggered evenly; latency counts from the *scheduled* send time, so a stall
//!    that delays later sends is not hidden (no coordinated omission).
//!
//! `zte-bench storm` (`scripts/bench.sh storm`) measures instead what a storm of forged
//! records costs the next genuine order (see `storm.rs`).
//!
//! `scripts/bench.sh` builds in release mode and runs this.

mod ceilings;
mod cpu;
mod storm;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use clap::Parser;
use hdrhistogram::Histogram;
use zte_e2e::Stack;
use zte_testkit::{
    clients::{OrdersClient, PaymentsClient, order_request},
    tokens::DEMO_USERS,
};

use crate::{
    ceilings::{IDENTITY_KEY_BITS, crypto_ceilings, kafka_ceiling},
    cpu::{Processes, load_average, machine_busy_seconds},
};

/// Measures the order → payment flow against its ceilings (or, `storm`, what a storm of
/// forged records costs the next genuine order).
#[derive(Debug, Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    flow: Args,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// How long storms of forged records delay the next genuine order.
    Storm(storm::StormArgs),
}

/// The flow benchmark's settings.
#[derive(Debug, clap::Args)]
struct Args {
    /// Concurrent CreateOrder clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Measured seconds per load phase (after warm-up).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Warm-up seconds of load before each measured window.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Seconds per ceiling measurement.
    #[arg(long, default_value_t = 3)]
    ceiling_seconds: u64,
    /// Longest wait, per phase, for the payments of acknowledged orders.
    #[arg(long, default_value_t = 120)]
    drain_timeout: u64,
    /// Offered rate of the second phase (orders/s); default half the measured full-load rate.
    #[arg(long)]
    half_rate: Option<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Storm(storm)) = cli.command {
        return storm::run(storm).await;
    }
    let args = cli.flow;
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    anyhow::ensure!(args.seconds > 0, "--seconds must be at least 1");
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    println!(
        "# zte-bench: {} clients, {}s measured after {}s warm-up per phase, {cores} cores, load average at start {}",
        args.clients,
        args.seconds,
        args.warmup,
        load_average()
    );

    let ceiling = Duration::from_secs(args.ceiling_seconds);
    let (signs, verifies) = crypto_ceilings(ceiling, cores, IDENTITY_KEY_BITS)?;
    let (signs_1, _) = crypto_ceilings(ceiling, 1, IDENTITY_KEY_BITS)?;
    let (client_signs, _) = crypto_ceilings(ceiling, cores, orders::DEFAULT_CLIENT_KEY_BITS)?;
    // What the two signatures of one order cost together with the keys the stack really uses
    // (the identity key signs the event token; the Orders client key the client assertion).
    let both = 1.0 / (1.0 / signs + 1.0 / client_signs);
    println!(
        "ceiling: PS256 sign   {signs:>8.0} /s ({cores} threads), {signs_1:.0} /s (1 thread), RSA-{IDENTITY_KEY_BITS} (identity key)"
    );
    println!(
        "ceiling: PS256 sign   {client_signs:>8.0} /s ({cores} threads), RSA-{} (Orders client key)",
        orders::DEFAULT_CLIENT_KEY_BITS
    );
    println!("ceiling: PS256 verify {verifies:>8.0} /s ({cores} threads), RSA-{IDENTITY_KEY_BITS}");
    println!(
        "ceiling: one RSA-{IDENTITY_KEY_BITS} + one RSA-{} signature per order: {both:.0} orders/s",
        orders::DEFAULT_CLIENT_KEY_BITS
    );

    // PS256 keys, as the ceilings above measure (the ES256 configuration is issue 16's
    // benchmark work).
    let stack = Stack::start_for_test_with(zte_testkit::kafka::bootstrap(), |config| {
        config.signing_alg = zte_auth::Algorithm::Ps256;
    })
    .await
    .context("starting the stack")?;
    let producer_rate = kafka_ceiling(&stack.config.kafka, ceiling).await?;
    println!(
        "ceiling: Kafka idempotent producer (acks=all, 1.3 KB records, 64 in flight) {producer_rate:>8.0} records/s"
    );
    let processes = Processes::of(&stack);
    println!("pids: {}", processes.describe());

    let mut tokens = Vec::new();
    for (user, password) in DEMO_USERS {
        tokens.push(stack.user_token(user, password).await?);
    }
    let orders = stack.orders_client().await?;
    let payments = stack.payments_client().await?;
    let phase_args = PhaseArgs {
        clients: args.clients,
        warmup: Duration::from_secs(args.warmup),
        seconds: Duration::from_secs(args.seconds),
        drain: Duration::from_secs(args.drain_timeout),
    };

    let full = phase(&orders, &payments, &tokens, &processes, &phase_args, None).await?;
    full.report("full load");
    let half_rate = args.half_rate.unwrap_or(full.acked_per_second / 2.0);
    let half = phase(
        &orders,
        &payments,
        &tokens,
        &processes,
        &phase_args,
        Some(half_rate),
    )
    .await?;
    half.report(&format!("half load ({half_rate:.1} orders/s offered)"));

    let flow = full.paid_per_second.min(full.acked_per_second);
    let flow_ceiling = signs / 2.0;
    let flow_ratio = flow / flow_ceiling;
    let half_create_p99 = ms(half.create_us.value_at_quantile(0.99));
    let half_paid_p99 = ms(half.paid_us.value_at_quantile(0.99));
    println!("\n| metric | value | target |\n|---|---|---|");
    println!(
        "| PS256 signs/s, {cores} threads, RSA-{IDENTITY_KEY_BITS} (ceiling) | {signs:.0} | |"
    );
    println!(
        "| PS256 signs/s, {cores} threads, RSA-{} (ceiling) | {client_signs:.0} | |",
        orders::DEFAULT_CLIENT_KEY_BITS
    );
    println!("| PS256 verifies/s, {cores} threads (ceiling) | {verifies:.0} | |");
    println!("| Kafka producer records/s (ceiling) | {producer_rate:.0} | |");
    println!(
        "| orders/s acknowledged, full load | {:.1} | |",
        full.acked_per_second
    );
    println!(
        "| payments/s completed, full load | {:.1} | |",
        full.paid_per_second
    );
    println!(
        "| flow ÷ (signs/s ÷ 2) | {:.1}% | ≥ 50% {} |",
        100.0 * flow_ratio,
        verdict(flow_ratio >= 0.5)
    );
    println!(
        "| flow ÷ (one RSA-{IDENTITY_KEY_BITS} + one RSA-{} sign per order: {both:.0}/s) | {:.1}% | |",
        orders::DEFAULT_CLIENT_KEY_BITS,
        100.0 * flow / both
    );
    println!(
        "| flow ÷ Kafka producer ceiling | {:.1}% | |",
        100.0 * flow / producer_rate
    );
    println!(
        "| CreateOrder p50/p90/p99/max, full load (ms) | {} | |",
        quantiles(&full.create_us)
    );
    println!(
        "| order→payment p50/p90/p99/max, full load (ms) | {} | |",
        quantiles(&full.paid_us)
    );
    println!(
        "| orders/s acknowledged, half load | {:.1} | |",
        half.acked_per_second
    );
    println!(
        "| CreateOrder p50/p90/p99/max, half load (ms) | {} | p99 ≤ 25 {} |",
        quantiles(&half.create_us),
        verdict(half_create_p99 <= 25.0)
    );
    println!(
        "| order→payment p50/p90/p99/max, half load (ms) | {} | p99 ≤ 100 {} |",
        quantiles(&half.paid_us),
        verdict(half_paid_p99 <= 100.0)
    );
    println!("load average at end: {}", load_average());
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "(met)" } else { "(MISSED)" }
}

struct PhaseArgs {
    clients: usize,
    warmup: Duration,
    seconds: Duration,
    drain: Duration,
}

/// One acknowledged order.
struct Acked {
    id: String,
    /// Answered inside the measured window.
    measured: bool,
}

/// The results of one load phase.
struct Phase {
    /// Orders answered OK inside the measured window, per second.
    acked_per_second: f64,
    /// Payments recorded inside the measured window (for any order of this phase), per second.
    paid_per_second: f64,
    /// CreateOrder latency of the orders answered inside the window, µs.
    create_us: Histogram<u64>,
    /// Event timestamp → payment record, for the orders answered inside the window, µs.
    paid_us: Histogram<u64>,
    acked_total: usize,
    acked_in_window: usize,
    /// Error status → count, over the whole phase (warm-up included).
    errors: BTreeMap<String, u64>,
    /// Acknowledged orders whose payment never appeared within the drain timeout.
    missing: usize,
    drained_in: Duration,
    /// How far the paced clients fell behind their schedule at worst (half load only).
    max_lag: Duration,
    cpu: Vec<(&'static str, f64)>,
    /// CPU seconds the whole machine was busy in the window (all processes, kernel included).
    machine_busy: f64,
    window: Duration,
}

impl Phase {
    fn report(&self, name: &str) {
        let secs = self.window.as_secs_f64();
        println!("\n## {name}");
        println!(
            "orders acknowledged: {} in the {secs:.0}s window ({:.1}/s), {} in the phase",
            self.acked_in_window, self.acked_per_second, self.acked_total
        );
        let errors: u64 = self.errors.values().sum();
        println!("errors: {errors} {:?}", self.errors);
        println!(
            "payments recorded in the window: {:.1}/s; every payment listed (ListPayments) {:.1}s after the load stopped, missing: {}",
            self.paid_per_second,
            self.drained_in.as_secs_f64(),
            self.missing
        );
        if !self.max_lag.is_zero() {
            println!(
                "paced clients fell behind schedule by at most {:.1} ms",
                self.max_lag.as_secs_f64() * 1e3
            );
        }
        println!(
            "CreateOrder latency ms p50/p90/p99/max: {}",
            quantiles(&self.create_us)
        );
        println!(
            "order→payment latency ms p50/p90/p99/max: {}",
            quantiles(&self.paid_us)
        );
        let orders = self.acked_in_window.max(1) as f64;
        let cpu: Vec<String> = self
            .cpu
            .iter()
            .map(|(name, seconds)| {
                format!(
                    "{name} {:.0}% ({:.2} ms/order)",
                    100.0 * seconds / secs,
                    1e3 * seconds / orders
                )
            })
            .collect();
        println!("CPU in the window (100% = one core): {}", cpu.join(", "));
        let ours: f64 = self.cpu.iter().map(|(_, seconds)| seconds).sum();
        println!(
            "machine busy {:.0}% (stack + bench {:.0}%, anything else {:.0}%): {:.2} ms of stack CPU per order",
            100.0 * self.machine_busy / secs,
            100.0 * ours / secs,
            100.0 * (self.machine_busy - ours).max(0.0) / secs,
            1e3 * ours / orders
        );
    }
}

/// Runs one load phase: `clients` loops of CreateOrder, closed-loop (`rate` None) or paced
/// open-loop at `rate` orders/s overall; then waits for the payments.
async fn phase(
    orders: &OrdersClient,
    payments: &PaymentsClient,
    tokens: &[String],
    processes: &Processes,
    args: &PhaseArgs,
    rate: Option<f64>,
) -> anyhow::Result<Phase> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let start_unix = unix_nanos(SystemTime::now());
    let measure_from = start + args.warmup;
    let measure_to = measure_from + args.seconds;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..args.clients {
        let (orders, stop) = (orders.clone(), stop.clone());
        let token = tokens[client % tokens.len()].clone();
        // Each client sends every `clients / rate` seconds; client i starts i / rate seconds
        // in, so the sends are spread evenly rather than fired in bursts.
        let pacing = rate.map(|r| {
            let r = r.max(0.1);
            (
                Duration::from_secs_f64(args.clients as f64 / r),
                Duration::from_secs_f64(client as f64 / r),
            )
        });
        tasks.spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            let mut acked = Vec::new();
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut next = pacing.map(|(_, offset)| start + offset);
            let mut max_lag = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let scheduled = match (&mut next, pacing) {
                    (Some(next), Some((interval, _))) => {
                        tokio::time::sleep_until((*next).into()).await;
                        let scheduled = *next;
                        *next += interval;
                        max_lag = max_lag.max(Instant::now().duration_since(scheduled));
                        scheduled
                    }
                    _ => Instant::now(),
                };
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let result = orders
                    .create_order(&token, order_request(&[("SKU-BENCH", 2, 1_999)]))
                    .await;
                let done = Instant::now();
                let measured = done >= measure_from && done <= measure_to;
                match result {
                    Ok(order) => {
                        if measured {
                            hist.record(micros(done.duration_since(scheduled)))?;
                        }
                        acked.push(Acked {
                            id: order.order_transaction_id,
                            measured,
                        });
                    }
                    Err(status) => *errors.entry(format!("{:?}", status.code())).or_default() += 1,
                }
            }
            anyhow::Ok((hist, acked, errors, max_lag))
        });
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_before = processes.cpu_seconds();
    let machine_before = machine_busy_seconds(processes.ticks_per_second);
    tokio::time::sleep_until(measure_to.into()).await;
    let cpu_after = processes.cpu_seconds();
    let machine_after = machine_busy_seconds(processes.ticks_per_second);
    stop.store(true, Ordering::Relaxed);
    let load_stopped = Instant::now();

    let mut create_us = Histogram::<u64>::new(3)?;
    let mut acked = Vec::new();
    let mut errors = BTreeMap::new();
    let mut max_lag = Duration::ZERO;
    while let Some(result) = tasks.join_next().await {
        let (hist, ids, errs, lag) = result??;
        create_us.add(hist)?;
        acked.extend(ids);
        for (code, n) in errs {
            *errors.entry(code).or_default() += n;
        }
        max_lag = max_lag.max(lag);
    }
    let acked_in_window = acked.iter().filter(|a| a.measured).count();

    // Wait until every acknowledged order of this phase is paid, so the next phase starts with
    // an idle consumer and the payment rate below is not cut short.
    let wanted: HashSet<&str> = acked.iter().map(|a| a.id.as_str()).collect();
    let deadline = Instant::now() + args.drain;
    let mut found = HashMap::new();
    loop {
        for token in tokens {
            for payment in payments.all_payments(token).await? {
                if wanted.contains(payment.order_transaction_id.as_str()) {
                    found.insert(payment.order_transaction_id.clone(), payment);
                }
            }
        }
        if found.len() >= wanted.len() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drained_in = load_stopped.elapsed();

    let window_from = start_unix + nanos(args.warmup);
    let window_to = window_from + nanos(args.seconds);
    let mut paid_us = Histogram::<u64>::new(3)?;
    let mut paid_in_window = 0u64;
    for payment in found.values() {
        let Some(recorded) = &payment.recorded_at else {
            continue;
        };
        if (window_from..window_to).contains(&timestamp_nanos(recorded)) {
            paid_in_window += 1;
        }
    }
    for order in acked.iter().filter(|a| a.measured) {
        let Some(payment) = found.get(&order.id) else {
            continue;
        };
        if let (Some(created), Some(recorded)) = (&payment.order_created_at, &payment.recorded_at) {
            let us = (timestamp_nanos(recorded) - timestamp_nanos(created)).max(0) / 1_000;
            paid_us.record(u64::try_from(us).unwrap_or(0))?;
        }
    }
    let secs = args.seconds.as_secs_f64();
    Ok(Phase {
        acked_per_second: acked_in_window as f64 / secs,
        paid_per_second: paid_in_window as f64 / secs,
        create_us,
        paid_us,
        acked_total: acked.len(),
        acked_in_window,
        errors,
        missing: wanted.len() - found.len(),
        drained_in,
        max_lag,
        cpu: cpu_after
            .iter()
            .zip(&cpu_before)
            .map(|((name, after), (_, before))| (*name, after - before))
            .collect(),
        machine_busy: machine_after - machine_before,
        window: args.seconds,
    })
}

fn unix_nanos(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map(nanos).unwrap_or(0)
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn timestamp_nanos(timestamp: &prost_types::Timestamp) -> i64 {
    timestamp.seconds * 1_000_000_000 + i64::from(timestamp.nanos)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1_000.0
}

fn quantiles(hist_us: &Histogram<u64>) -> String {
    if hist_us.is_empty() {
        return "- / - / - / -".into();
    }
    format!(
        "{:.1} / {:.1} / {:.1} / {:.1}",
        ms(hist_us.value_at_quantile(0.5)),
        ms(hist_us.value_at_quantile(0.9)),
        ms(hist_us.value_at_quantile(0.99)),
        ms(hist_us.max())
    )
}
