//! The one-command demo: starts identity, orders and payments on loopback against the local
//! Kafka broker, waits until every health check reports SERVING, creates a real order as
//! `demouser` through the gRPC API, waits for its payment, and prints the order, the decoded
//! event token claims and the payment. Then it keeps the stack running until Ctrl-C (or stops
//! at once with `--stop`).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::Parser;
use rdkafka::Message as _;
use zte_e2e::{Stack, StackConfig};
use zte_testkit::{clients::order_request, events::decode_envelope, forge, kafka};

/// Runs the whole stack locally and shows an order becoming a payment.
#[derive(Debug, Parser)]
struct Args {
    /// Stop the stack after showing the flow instead of waiting for Ctrl-C.
    #[arg(long)]
    stop: bool,
    /// Kafka bootstrap address (scripts/kafka.sh starts one on 127.0.0.1:19092).
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:19092"
    )]
    kafka: String,
    /// Where data directories and logs go.
    #[arg(long, default_value = ".cache/demo")]
    root: PathBuf,
    /// Identity service address.
    #[arg(long, default_value = "127.0.0.1:18080")]
    identity_addr: SocketAddr,
    /// Orders service address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    orders_addr: SocketAddr,
    /// Payments service address.
    #[arg(long, default_value = "127.0.0.1:50052")]
    payments_addr: SocketAddr,
    /// Event topic.
    #[arg(long, default_value = "orders.order-created.v1")]
    topic: String,
    /// Serve TLS on every hop with the project PKI (`scripts/pki.sh`; mutual TLS between the
    /// services) instead of plaintext on loopback.
    #[arg(long)]
    tls: bool,
    /// Algorithm of Identity's signing key and the Orders client key (ES256 or PS256).
    #[arg(long, default_value = "ES256")]
    signing_alg: zte_auth::Algorithm,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.root)
        .with_context(|| format!("creating {}", args.root.display()))?;
    let root = args.root.canonicalize()?;
    let config = StackConfig {
        kafka: args.kafka.clone(),
        dlq_topic: format!("{}.dlq", args.topic),
        retry_topic: format!("{}.retry", args.topic),
        topic: args.topic.clone(),
        group: "payments".into(),
        identity_addr: args.identity_addr,
        orders_addr: args.orders_addr,
        payments_addr: args.payments_addr,
        root: root.clone(),
        publish_timeout: Duration::from_secs(10),
        tls: args.tls,
        signing_alg: args.signing_alg,
    };
    config.create_topics().await?;
    println!(
        "Starting identity, payments and orders (logs in {}/logs) ...",
        root.display()
    );
    let stack = Stack::start(config).await?;
    println!(
        "All healthy: identity {}  orders {}  payments {}  kafka {}",
        stack.config.issuer(),
        args.orders_addr,
        args.payments_addr,
        args.kafka
    );

    let token = stack.user_token("demouser", "Password1").await?;
    let order = stack
        .orders_client()
        .await?
        .create_order(
            &token,
            order_request(&[("BOOK-RUST-2024", 2, 3_990), ("MUG-KAFKA", 1, 1_250)]),
        )
        .await?;
    println!("\n== Order (orders.v1.OrdersService/CreateOrder as demouser)\n{order:#?}");

    // The event as it sits in Kafka, and its token's claims.
    let consumer = kafka::consumer_from_start(&args.kafka, &args.topic)?;
    let record =
        zte_testkit::wait_until("the OrderCreated record", Duration::from_secs(30), || {
            let consumer = &consumer;
            let id = order.order_transaction_id.clone();
            async move {
                let records = kafka::collect_records(consumer, 1, Duration::from_millis(500)).await;
                records.into_iter().find(|r| r.key() == Some(id.as_bytes()))
            }
        })
        .await?;
    let envelope = decode_envelope(record.payload().unwrap_or_default());
    let claims = forge::claims_of(&envelope.access_token);
    println!(
        "\n== Event on {} (partition {}, offset {}, key {})\nevent_type: {}\npayload: {} bytes, sha256 {}\nevent token claims:\n{}",
        args.topic,
        record.partition(),
        record.offset(),
        order.order_transaction_id,
        envelope.event_type,
        envelope.payload.len(),
        zte_event::payload_hash(&envelope.payload),
        serde_json::to_string_pretty(&claims)?
    );

    let payment = stack
        .payments_client()
        .await?
        .wait_payment(&token, &order.order_transaction_id, Duration::from_secs(30))
        .await?;
    println!("\n== Payment (payments.v1.PaymentsService/GetPayment)\n{payment:#?}");

    if args.stop {
        println!("\nStopping (--stop).");
        return Ok(());
    }
    println!(
        "\nUser token for demouser (15 min):\n{token}\n\nThe stack keeps running; try the grpcurl walkthrough in the README. Ctrl-C stops it."
    );
    // SIGTERM as well as Ctrl-C: dropping the stack stops the services it started.
    zte_runtime::shutdown_signal().await;
    println!("Stopping ...");
    Ok(())
}
