//! Property tests of the consumer-side verification pipeline: whatever bytes arrive as a
//! Kafka record, `EventVerifier::verify` refuses them with a named, permanent reason and never
//! panics. Inputs range from raw noise to well-formed envelopes around arbitrary payloads and
//! tokens, so every early stage of the pipeline is exercised.

// The shared fixture is built outside `#[test]` functions; a failure there must fail loudly.
#![allow(clippy::unwrap_used)]

mod common;

use std::{sync::LazyLock, time::Duration};

use proptest::prelude::*;
use prost::Message;
use zte_auth::{
    Algorithm, JwkSet, JwksCache, KeySpec, SigningKey, TokenValidator, ValidatorConfig,
};
use zte_event::{EventVerifier, VerifierLimits};
use zte_proto::events::v1::{EventEnvelope, ORDER_CREATED_TYPE};

use common::{strings, testdata};

/// Every reason the pipeline can give for input that carries no valid signature: the shared
/// case file lists the reasons in the order the pipeline checks them, and those up to
/// `bad_signature` come before any claim is read.
static UNSIGNED_REASONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let file = testdata("event_verification_cases.json");
    let reasons = strings(&file, "reasons");
    let signature = reasons.iter().position(|r| *r == "bad_signature").unwrap();
    reasons[..=signature]
        .iter()
        .map(|r| (*r).to_owned())
        .collect()
});

static VERIFIER: LazyLock<(EventVerifier, tokio::runtime::Runtime)> = LazyLock::new(|| {
    let key = SigningKey::generate(KeySpec::Es256).unwrap();
    let validator = TokenValidator::new(
        ValidatorConfig {
            issuer: "http://issuer.test".into(),
            audience: "payments-service".into(),
            leeway: Duration::from_secs(5),
            algorithms: Algorithm::ALL.to_vec(),
        },
        // A fixed key set: an unknown kid is a permanent `unknown_key`, never a network call.
        JwksCache::fixed(JwkSet {
            keys: vec![key.public_jwk()],
        }),
    );
    let limits = VerifierLimits {
        max_record_bytes: 4096,
        ..VerifierLimits::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    (EventVerifier::new(validator, limits), runtime)
});

fn refused_with_a_known_reason(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<(), String> {
    let (verifier, runtime) = &*VERIFIER;
    match runtime.block_on(verifier.verify(key, value)) {
        Ok(event) => Err(format!("accepted {:?}", event.order)),
        Err(rejection) if rejection.is_transient() => {
            Err(format!("transient rejection {rejection}"))
        }
        Err(rejection) if UNSIGNED_REASONS.iter().any(|r| r == rejection.reason()) => Ok(()),
        Err(rejection) => Err(format!("unexpected reason {}", rejection.reason())),
    }
}

/// A three-part string that looks like a compact JWS to a quick check.
fn jws_like() -> impl Strategy<Value = String> {
    (
        "[A-Za-z0-9_-]{0,60}",
        "[A-Za-z0-9_-]{0,60}",
        "[A-Za-z0-9_-]{0,60}",
    )
        .prop_map(|(h, c, s)| format!("{h}.{c}.{s}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_record_bytes_are_refused_with_a_named_reason(
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6000)),
    ) {
        let outcome = refused_with_a_known_reason(key.as_deref(), value.as_deref());
        prop_assert!(outcome.is_ok(), "{:?}", outcome);
    }

    #[test]
    fn well_formed_envelopes_with_arbitrary_contents_are_refused_with_a_named_reason(
        event_type in prop_oneof![Just(ORDER_CREATED_TYPE.to_owned()), ".{0,40}"],
        payload in proptest::collection::vec(any::<u8>(), 0..512),
        token in prop_oneof![jws_like(), ".{0,200}"],
        key in proptest::option::of("[0-9a-f-]{0,36}"),
    ) {
        let value = EventEnvelope { event_type, payload, access_token: token }.encode_to_vec();
        let outcome = refused_with_a_known_reason(key.as_deref().map(str::as_bytes), Some(&value));
        prop_assert!(outcome.is_ok(), "{:?}", outcome);
    }
}
