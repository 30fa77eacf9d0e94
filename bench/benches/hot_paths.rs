//! Criterion micro-benchmarks of the hot paths:
//! - token validation with a warm JWKS cache vs the raw PS256 signature verify it wraps;
//! - event encode + hash (producer side);
//! - envelope decode + hash check (consumer side, without the token);
//! - full record verification (envelope decode + token + hash check + payload decode).

#![allow(clippy::expect_used)] // A benchmark that cannot set up has nothing to measure: fail loudly.

use std::{hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message as _;
use zte_auth::{
    Algorithm, JwkSet, JwksCache, KeySpec, SigningKey, TokenValidator, ValidatorConfig, jws,
};
use zte_event::{EventVerifier, VerifierLimits, encode_order_created, envelope, payload_hash};
use zte_proto::events::v1::{EventEnvelope, OrderCreated, OrderItem};
use zte_testkit::tokens::event_claims;

const ISSUER: &str = "http://bench.issuer";

fn order(id: &str) -> OrderCreated {
    OrderCreated {
        order_transaction_id: id.to_owned(),
        user_id: "demouser".into(),
        created_at: Some(prost_types::Timestamp {
            seconds: 1_790_000_000,
            nanos: 123_000_000,
        }),
        items: (0..3)
            .map(|i| OrderItem {
                sku: format!("SKU-{i}"),
                quantity: 2,
                unit_price_minor: 1_250,
            })
            .collect(),
        currency: "EUR".into(),
        total_minor: 7_500,
    }
}

fn benches(c: &mut Criterion) {
    let key = SigningKey::generate(KeySpec::Ps256 { bits: 2048 }).expect("keygen");
    let validator = TokenValidator::new(
        ValidatorConfig {
            issuer: ISSUER.into(),
            audience: "payments-service".into(),
            leeway: Duration::from_secs(30),
            algorithms: Algorithm::ALL.to_vec(),
        },
        JwksCache::fixed(JwkSet {
            keys: vec![key.public_jwk()],
        }),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let id = uuid::Uuid::new_v4().to_string();
    let event = order(&id);
    let encoded = encode_order_created(&event);
    let claims = event_claims(ISSUER, &event, &encoded.payload_hash);
    let token = jws::sign(&key, "at+jwt", &claims).expect("sign");
    // Warm the cache.
    runtime
        .block_on(validator.validate(&token))
        .expect("valid token");
    let record = envelope(&encoded.payload, &token);
    let verifier = EventVerifier::new(validator.clone(), VerifierLimits::default());

    // The raw operation the validator wraps: ring's PS256 verify over the signing input.
    let (signing_input, signature) = token.rsplit_once('.').expect("compact JWS");
    let signature = base64_url_decode(signature);
    let public = key.public_jwk();
    let n = base64_url_decode(&public.n);
    let e = base64_url_decode(&public.e);
    let components = ring::signature::RsaPublicKeyComponents { n: &n, e: &e };

    let mut group = c.benchmark_group("token");
    group.bench_function("raw_ps256_verify", |b| {
        b.iter(|| {
            components
                .verify(
                    &ring::signature::RSA_PSS_2048_8192_SHA256,
                    black_box(signing_input.as_bytes()),
                    &signature,
                )
                .expect("verifies")
        })
    });
    group.bench_function("validate_warm_jwks", |b| {
        b.iter(|| {
            runtime
                .block_on(validator.validate(black_box(&token)))
                .expect("valid")
        })
    });
    group.bench_function("raw_ps256_sign", |b| {
        b.iter(|| jws::sign(&key, "at+jwt", black_box(&claims)).expect("signs"))
    });
    group.finish();

    let mut group = c.benchmark_group("event");
    group.bench_function("encode_and_hash", |b| {
        b.iter(|| encode_order_created(black_box(&event)))
    });
    group.bench_function("envelope_decode_and_hash_check", |b| {
        b.iter(|| {
            let received = EventEnvelope::decode(black_box(record.as_slice())).expect("decodes");
            assert_eq!(payload_hash(&received.payload), encoded.payload_hash);
        })
    });
    group.bench_function("verify_record_full", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(Some(id.as_bytes()), Some(black_box(&record))))
                .expect("verified")
        })
    });
    group.finish();
}

fn base64_url_decode(value: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .expect("base64url")
}

criterion_group! {
    name = hot_paths;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    targets = benches
}
criterion_main!(hot_paths);
