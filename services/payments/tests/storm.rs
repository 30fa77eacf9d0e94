//! A storm against the consumer, on the real broker: 10,000 forged records (unknown kids,
//! oversized, garbage, spoofed DLQ and retry headers; `zte_testkit::storm`) interleaved with
//! 500 genuine orders. Every genuine order is paid; every forged record ends in the DLQ,
//! once, with its reason and none of the spoofed headers; nothing is retried forever; the
//! JWKS is fetched at most once per cooldown however many forged kids arrive.
//!
//! Before issue 13 each unknown kid made the consumer sleep one cooldown (1 s here): the
//! 2,500 unknown kids alone would have taken 42 minutes. The deadline below is a bound, not a
//! measurement (speed is measured by `scripts/bench.sh storm`, see BENCHMARKS.md).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use rdkafka::{Message as _, message::Headers as _};
use tonic_health::pb::health_check_response::ServingStatus;
use zte_testkit::{
    events::Event,
    kafka,
    payments::PaymentsSetup,
    storm::{self, Forgery, SPOOFED_HEADERS},
    token_service::TokenService,
    tokens::DEMO_USERS,
};

const GENUINE: usize = 500;
const FORGED: usize = 10_000;
/// Generous for a loaded two-core CI machine; a run here takes well under a minute.
const STORM_DEADLINE: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_forged_records_is_dead_lettered_while_every_genuine_order_is_paid() {
    let user = DEMO_USERS[0].0;
    let tokens = TokenService::start().await;
    let mut setup = PaymentsSetup::new(&tokens.issuer, 3).await;
    setup.config.max_record_bytes = payments::config::MIN_RECORD_BYTES;
    let app = setup.spawn().await;
    app.wait_readiness(ServingStatus::Serving).await;

    // One genuine order after every 20 forged records.
    let genuine: Vec<Event> = (0..GENUINE).map(|_| tokens.event(user)).collect();
    let forged = storm::storm(FORGED, &tokens.issuer, setup.config.max_record_bytes);
    let mut records = Vec::with_capacity(GENUINE + FORGED);
    let mut kinds = Vec::with_capacity(GENUINE + FORGED);
    let mut genuine_left = genuine.iter();
    for (i, forgery) in forged.iter().enumerate() {
        records.push(forgery.record.clone());
        kinds.push(Some(forgery.kind));
        if i % 20 == 19
            && let Some(event) = genuine_left.next()
        {
            records.push(event.record());
            kinds.push(None);
        }
    }
    for event in genuine_left {
        records.push(event.record());
        kinds.push(None);
    }
    let jwks_before = tokens.jwks_requests();
    let started = Instant::now();
    let positions = setup.produce_all(&records).await;
    app.wait_stats_within("every record of the storm handled", STORM_DEADLINE, |s| {
        s.paid == GENUINE as u64 && s.dead_lettered == FORGED as u64
    })
    .await;
    let elapsed = started.elapsed();
    eprintln!(
        "storm of {FORGED} forged + {GENUINE} genuine handled in {elapsed:?}: {:?}",
        app.stats.snapshot()
    );

    // Every genuine order paid, once.
    assert_eq!(app.store.count().await.unwrap(), GENUINE as u64);
    for event in &genuine {
        assert!(
            app.store.get(user, event.id()).await.unwrap().is_some(),
            "genuine order {} paid",
            event.id()
        );
    }

    // Every forged record dead-lettered exactly once, with its reason and only our headers.
    assert_eq!(kafka::record_count(setup.dlq()).await, FORGED as i64);
    let dead = kafka::read_topic(setup.dlq(), FORGED, STORM_DEADLINE).await;
    assert_eq!(dead.len(), FORGED);
    let expected: HashMap<(String, String), Forgery> = positions
        .iter()
        .zip(&kinds)
        .filter_map(|((partition, offset), kind)| {
            kind.map(|k| ((partition.to_string(), offset.to_string()), k))
        })
        .collect();
    let mut seen = HashSet::new();
    let mut rechecks = 0;
    for message in &dead {
        let header = |name| kafka::header(message, name);
        let position = (
            header(payments::HEADER_SOURCE_PARTITION).unwrap_or_default(),
            header(payments::HEADER_SOURCE_OFFSET).unwrap_or_default(),
        );
        let kind = expected
            .get(&position)
            .unwrap_or_else(|| panic!("a dead letter of no forged record: {position:?}"));
        assert!(
            seen.insert(position.clone()),
            "dead-lettered twice: {position:?}"
        );
        assert_eq!(
            header(payments::HEADER_REASON).as_deref(),
            Some(kind.reason())
        );
        assert_eq!(
            header(payments::HEADER_SOURCE_TOPIC).as_deref(),
            Some(setup.topic())
        );
        let headers: Vec<&str> = message
            .headers()
            .map(|h| h.iter().map(|h| h.key).collect())
            .unwrap_or_default();
        for (spoofed, _) in SPOOFED_HEADERS {
            let named = headers
                .iter()
                .filter(|h| h.eq_ignore_ascii_case(spoofed))
                .count();
            assert!(
                named <= 1,
                "{kind:?}: a spoofed {spoofed} survived: {headers:?}"
            );
        }
        let attempts: u64 = header(payments::HEADER_ATTEMPTS).unwrap().parse().unwrap();
        match kind {
            Forgery::UnknownKid => {
                // Decided at once when a JWKS fetch finished between its arrival and its
                // check, otherwise set aside until the fetch its check asked for (twice at
                // most, if that fetch was still running at the first re-check).
                assert!((1..=3).contains(&attempts), "{kind:?}: {attempts} checks");
                rechecks += attempts - 1;
            }
            Forgery::Oversized => {
                assert_eq!(message.payload(), None, "an oversized value is not copied");
                assert!(header(payments::HEADER_VALUE_SHA256).is_some());
                assert_eq!(attempts, 1);
            }
            Forgery::Garbage | Forgery::SpoofedHeaders => assert_eq!(attempts, 1),
        }
    }

    // Nothing retried forever: the retry topic holds exactly the re-checks counted above.
    let stats = app.stats.snapshot();
    assert_eq!(stats.set_aside, rechecks);
    assert_eq!(kafka::record_count(setup.retry()).await, rechecks as i64);
    assert_eq!(stats.duplicate, 0);
    // 2,500 forged kids, at most one JWKS fetch per cooldown (1 s) while they came in.
    let fetches = tokens.jwks_requests() - jwks_before;
    let cooldowns = elapsed.as_secs() + 2;
    assert!(
        fetches as u64 <= cooldowns,
        "{fetches} JWKS fetches in {elapsed:?}"
    );
    app.stop().await.unwrap();
}
