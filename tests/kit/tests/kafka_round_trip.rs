//! Proves the harness: a record produced to a real broker is consumed back unchanged.

use std::time::Duration;

use rdkafka::{
    ClientConfig, Message,
    producer::{FutureProducer, FutureRecord},
};
use zte_testkit::{
    collect_records, consumer_from_start, create_topic, kafka_bootstrap, unique_name,
};

#[tokio::test]
async fn record_round_trips_through_a_real_broker() -> anyhow::Result<()> {
    zte_testkit::init_test_logging();
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("harness");
    create_topic(&bootstrap, &topic, 1).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()?;
    let payload = b"\x00\x01binary\xffpayload".to_vec();
    let delivery = producer
        .send(
            FutureRecord::to(&topic).key("k-1").payload(&payload),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)?;
    let offset = delivery.offset;
    assert_eq!(delivery.partition, 0);
    assert!(offset >= 0);

    let consumer = consumer_from_start(&bootstrap, &topic)?;
    let records = collect_records(&consumer, 1, Duration::from_secs(60)).await;
    assert_eq!(
        records.len(),
        1,
        "record not consumed back from {bootstrap}"
    );
    assert_eq!(records[0].key(), Some(&b"k-1"[..]));
    assert_eq!(records[0].payload(), Some(&payload[..]));
    eprintln!("round trip via real broker {bootstrap}, topic {topic}, offset {offset}");
    Ok(())
}
