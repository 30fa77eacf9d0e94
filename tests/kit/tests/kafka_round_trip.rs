//! Proves the kit's broker access: a record produced to a real broker is consumed back
//! unchanged.

use std::time::Duration;

use rdkafka::Message;
use zte_testkit::kafka::{self, Record};

#[tokio::test]
async fn record_round_trips_through_a_real_broker() -> anyhow::Result<()> {
    zte_testkit::init_test_logging();
    let bootstrap = kafka::bootstrap();
    let topic = kafka::fresh_topic("harness", 1).await;
    let producer = kafka::producer(&bootstrap);
    let payload = b"\x00\x01binary\xffpayload".to_vec();
    let (partition, offset) =
        kafka::produce(&producer, &topic, &Record::new("k-1", payload.clone())).await?;
    assert_eq!(partition, 0);
    assert!(offset >= 0);

    let consumer = kafka::consumer_from_start(&bootstrap, &topic)?;
    let records = kafka::collect_records(&consumer, 1, Duration::from_secs(60)).await;
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
