package io.zte.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.nimbusds.jose.JWSObject;
import com.nimbusds.jose.util.JSONObjectUtils;
import events.v1.Events.EventEnvelope;
import io.grpc.CallOptions;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;
import orders.v1.Orders;
import orders.v1.Orders.CreateOrderRequest;
import orders.v1.Orders.CreateOrderResponse;
import orders.v1.Orders.OrderItem;

/**
 * Against the running local stack ({@code scripts/demo.sh}) only, with {@code ZTE_STACK=1}: a
 * demo user's token, {@code CreateOrder} over gRPC, then the order's event read from the real
 * topic with the Kafka Java client and verified with {@link EventVerifier} against Identity's
 * JWKS. {@code ZTE_ISSUER}, {@code ZTE_ORDERS_ADDR}, {@code ZTE_KAFKA_BOOTSTRAP} and {@code
 * ZTE_TOPIC} override the local addresses.
 */
@EnabledIfEnvironmentVariable(named = "ZTE_STACK", matches = "1")
class LiveEventTest {
  private static final String ISSUER = env("ZTE_ISSUER", "http://127.0.0.1:18080");
  private static final String ORDERS_ADDR = env("ZTE_ORDERS_ADDR", "127.0.0.1:50051");
  private static final String KAFKA = env("ZTE_KAFKA_BOOTSTRAP", "127.0.0.1:19092");
  private static final String TOPIC = env("ZTE_TOPIC", "orders.order-created.v1");
  private static final Duration DEADLINE = Duration.ofSeconds(30);
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

  private static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isEmpty() ? fallback : value;
  }

  private static String get(String url) throws Exception {
    var response =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, response.statusCode(), url + ": " + response.body());
    return response.body();
  }

  private static String passwordToken() throws Exception {
    Map<String, String> form =
        Map.of(
            "grant_type", "password",
            "client_id", "demo-cli",
            "username", "demouser",
            "password", "Password1",
            "scope", "orders payments");
    String body =
        form.entrySet().stream()
            .map(e -> e.getKey() + "=" + URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8))
            .collect(Collectors.joining("&"));
    var response =
        HTTP.send(
            HttpRequest.newBuilder(URI.create(ISSUER + "/token"))
                .timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, response.statusCode(), "token endpoint: " + response.body());
    return (String) JSONObjectUtils.parse(response.body()).get("access_token");
  }

  private static CreateOrderResponse createOrder(String token, CreateOrderRequest request) {
    var method =
        GrpcMethods.unary(
            Orders.getDescriptor().findServiceByName("OrdersService"),
            "CreateOrder",
            CreateOrderRequest.getDefaultInstance(),
            CreateOrderResponse.getDefaultInstance());
    var headers = new Metadata();
    headers.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    var channel = ManagedChannelBuilder.forTarget(ORDERS_ADDR).usePlaintext().build();
    try {
      return ClientCalls.blockingUnaryCall(
          ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers)),
          method,
          CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS),
          request);
    } finally {
      channel.shutdownNow();
    }
  }

  private static ConsumerRecord<byte[], byte[]> readRecordWithKey(
      KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, Long> start, String key) {
    if (start.isEmpty()) {
      // The topic did not exist before this order: read it from the beginning.
      var partitions =
          consumer.partitionsFor(TOPIC, Duration.ofSeconds(10)).stream()
              .map(p -> new TopicPartition(TOPIC, p.partition()))
              .toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
    } else {
      consumer.assign(start.keySet());
      start.forEach(consumer::seek);
    }
    byte[] wanted = key.getBytes(StandardCharsets.UTF_8);
    Instant deadline = Instant.now().plus(DEADLINE);
    while (Instant.now().isBefore(deadline)) {
      for (var record : consumer.poll(Duration.ofMillis(500))) {
        if (java.util.Arrays.equals(record.key(), wanted)) {
          return record;
        }
      }
    }
    throw new AssertionError("no record with key " + key + " on " + TOPIC + " within " + DEADLINE);
  }

  @Test
  void aRealOrderEventIsConsumedWithTheKafkaJavaClientAndVerified() throws Exception {
    String token = passwordToken();
    var props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, KAFKA);
    props.put(ConsumerConfig.CLIENT_ID_CONFIG, "zte-java-client-" + UUID.randomUUID());
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    try (var consumer =
        new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      // Positions before the order, so only records written after them are read.
      var partitions =
          consumer.listTopics(Duration.ofSeconds(10)).getOrDefault(TOPIC, List.of()).stream()
              .map(p -> new TopicPartition(TOPIC, p.partition()))
              .toList();
      Map<TopicPartition, Long> start = consumer.endOffsets(partitions, Duration.ofSeconds(10));

      var request =
          CreateOrderRequest.newBuilder()
              .setRequestId(UUID.randomUUID().toString())
              .setCurrency("EUR")
              .addItems(
                  OrderItem.newBuilder().setSku("JAVA-☕").setQuantity(3).setUnitPriceMinor(1234))
              .addItems(OrderItem.newBuilder().setSku("JAVA-茶").setQuantity(1).setUnitPriceMinor(99))
              .build();
      var order = createOrder(token, request).getOrder();
      assertEquals(3 * 1234 + 99, order.getTotalMinor());

      var record = readRecordWithKey(consumer, start, order.getOrderTransactionId());
      var verifier =
          EventVerifier.fromJwks(get(ISSUER + "/jwks"), EventVerifier.Settings.defaults(ISSUER));
      VerifiedEvent event = verifier.verify(record.key(), record.value());

      assertEquals(order.getOrderTransactionId(), event.order().getOrderTransactionId());
      assertEquals(order.getUserId(), event.order().getUserId());
      assertEquals(order.getTotalMinor(), event.order().getTotalMinor());
      assertEquals("JAVA-☕", event.order().getItems(0).getSku());
      assertEquals("trigger_payments", event.claims().get("scope"));
      assertNotNull(event.claims().get("act"));
      // Identity signs ES256 by default: this is a real ES256 event token, verified.
      var eventToken = EventEnvelope.parseFrom(record.value()).getAccessToken();
      assertEquals("ES256", JWSObject.parse(eventToken).getHeader().getAlgorithm().getName());
    }
  }
}
