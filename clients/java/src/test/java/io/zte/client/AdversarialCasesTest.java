package io.zte.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.util.JSONObjectUtils;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The shared adversarial cases ({@code proto/testdata/event_verification_cases.json}) in Java:
 * each case is a Kafka record with the JWKS and settings to verify it against, and {@link
 * EventVerifier} must end it exactly as Payments does (Rust runs the same file through the real
 * verifier): accepted, or refused with the same reason name.
 */
class AdversarialCasesTest {
  private static List<Map<String, Object>> cases() throws Exception {
    return TestData.entries("event_verification_cases.json", "cases");
  }

  private static Map<String, Object> file() throws Exception {
    return TestData.read("event_verification_cases.json");
  }

  @SuppressWarnings("unchecked")
  static String outcome(Map<String, Object> c) throws Exception {
    var s = (Map<String, Object>) c.get("settings");
    var settings =
        new EventVerifier.Settings(
            (String) s.get("issuer"),
            (String) s.get("audience"),
            Set.copyOf((List<String>) s.get("trusted_producers")),
            List.copyOf((List<String>) s.get("allowed_algs")),
            ((Number) s.get("leeway_seconds")).longValue(),
            ((Number) s.get("max_record_bytes")).intValue());
    var verifier =
        EventVerifier.fromJwks(
            JSONObjectUtils.toJSONString((Map<String, Object>) c.get("jwks")), settings);
    var record = (Map<String, Object>) c.get("record");
    byte[] key =
        record.get("key") instanceof String k ? k.getBytes(StandardCharsets.UTF_8) : null;
    byte[] value = Base64.getDecoder().decode((String) record.get("value_b64"));
    try {
      var event = verifier.verify(key, value, ((Number) s.get("now")).longValue());
      assertArrayEquals(
          key,
          event.order().getOrderTransactionId().getBytes(StandardCharsets.UTF_8),
          "an accepted event is the record key's order");
      return "accepted";
    } catch (EventRejectedException rejected) {
      return rejected.reason().reasonName();
    }
  }

  @TestFactory
  Stream<DynamicTest> everyCaseEndsAsPaymentsSays() throws Exception {
    return TestData.eachNamed(
        cases(), c -> assertEquals(c.get("expect"), outcome(c), (String) c.get("description")));
  }

  @SuppressWarnings("unchecked")
  @Test
  void theCasesExpectEveryReasonPaymentsGivesAndTheJavaNamesAreTheSame() throws Exception {
    var reasons = new HashSet<>((List<String>) file().get("reasons"));
    var expected = new HashSet<String>();
    cases().forEach(c -> expected.add((String) c.get("expect")));
    assertTrue(cases().size() >= 18);
    var all = new HashSet<>(reasons);
    all.add("accepted");
    assertEquals(all, expected);
    var javaNames = new HashSet<String>();
    for (var reason : Reason.values()) {
      javaNames.add(reason.reasonName());
    }
    assertEquals(reasons, javaNames);
  }
}
