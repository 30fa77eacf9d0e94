package io.zte.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import events.v1.Events.OrderCreated;
import events.v1.Events.OrderItem;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The shared hash test vectors ({@code proto/testdata/order_created_vectors.json}) hold in Java:
 * the message built from each vector's fields serializes to exactly the recorded bytes, their
 * SHA-256 is the recorded hash, and parsing the bytes gives the same message back.
 */
class VectorsTest {
  private static List<Map<String, Object>> vectors() throws Exception {
    return TestData.entries("order_created_vectors.json", "vectors");
  }

  /** 64-bit integers are decimal strings in the file (proto3 JSON mapping). */
  private static long int64(Map<String, Object> map, String key) {
    return Long.parseLong((String) map.get(key));
  }

  @SuppressWarnings("unchecked")
  private static OrderCreated messageFromFields(Map<String, Object> fields) {
    var builder =
        OrderCreated.newBuilder()
            .setOrderTransactionId((String) fields.get("order_transaction_id"))
            .setUserId((String) fields.get("user_id"))
            .setCurrency((String) fields.get("currency"))
            .setTotalMinor(int64(fields, "total_minor"));
    if (fields.get("created_at") instanceof Map<?, ?> at) {
      var createdAt = (Map<String, Object>) at;
      // Set even for the zero timestamp: present differs from absent on the wire (1a 00).
      builder.setCreatedAt(
          Timestamp.newBuilder()
              .setSeconds(int64(createdAt, "seconds"))
              .setNanos(((Number) createdAt.get("nanos")).intValue()));
    }
    for (var item : (List<Map<String, Object>>) fields.get("items")) {
      builder.addItems(
          OrderItem.newBuilder()
              .setSku((String) item.get("sku"))
              .setQuantity(((Number) item.get("quantity")).intValue())
              .setUnitPriceMinor(int64(item, "unit_price_minor")));
    }
    return builder.build();
  }

  @Test
  void theFileHasAtLeastSixVectors() throws Exception {
    assertTrue(vectors().size() >= 6);
  }

  @SuppressWarnings("unchecked")
  @TestFactory
  Stream<DynamicTest> eachVectorEncodesToItsBytesHashesToItsHashAndDecodesBack() throws Exception {
    return TestData.eachNamed(
        vectors(),
        v -> {
          var message = messageFromFields((Map<String, Object>) v.get("fields"));
          byte[] encoded = message.toByteArray();
          assertEquals(v.get("encoded_hex"), HexFormat.of().formatHex(encoded));
          assertEquals(v.get("sha256"), EventVerifier.payloadHash(encoded));
          byte[] recorded = HexFormat.of().parseHex((String) v.get("encoded_hex"));
          assertEquals(message, OrderCreated.parseFrom(recorded));
        });
  }
}
