package io.zte.client;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Parser;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSObject;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.crypto.ECDSAVerifier;
import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.KeyUse;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.util.JSONObjectUtils;
import events.v1.Events.EventEnvelope;
import events.v1.Events.OrderCreated;
import events.v1.Events.OrderItem;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.ParseException;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Verifies one {@code OrderCreated} Kafka record the way Payments does, in Payments' order,
 * naming the first failure with Payments' {@link Reason} — so every language gives the same
 * answer for the same record ({@code proto/testdata/event_verification_cases.json} proves it):
 *
 * <ol>
 *   <li>size ({@code oversized_record}); envelope ({@code malformed_envelope}, {@code
 *       unexpected_event_type});
 *   <li>token header, untrusted: {@code alg} on the allow-list before any key lookup ({@code
 *       disallowed_algorithm}), no {@code crit} ({@code malformed_token}), {@code typ} {@code
 *       at+jwt} ({@code wrong_token_type}), a {@code kid} ({@code missing_kid}) in the JWKS
 *       ({@code unknown_key});
 *   <li>signature with that key, which verifies only its own algorithm ({@code bad_signature});
 *       {@code iss} exact, {@code exp}/{@code nbf} with leeway, {@code aud};
 *   <li>scope {@code trigger_payments}, a trusted {@code act.sub};
 *   <li>SHA-256 of the payload bytes as received = {@code event_payload_hash}, then decode,
 *       order id = claim = record key, {@code user_id} = {@code sub}, items add up to {@code
 *       total_minor} without overflow.
 * </ol>
 *
 * <p>Nimbus JOSE+JWT verifies the signatures; the JWS parsing around it is strict on purpose.
 * Instances are immutable and thread-safe.
 */
public final class EventVerifier {
  /** {@code EventEnvelope.event_type} of an {@code OrderCreated}. */
  public static final String ORDER_CREATED_TYPE = "events.v1.OrderCreated";
  /** The only scope of an event token. */
  public static final String EVENT_SCOPE = "trigger_payments";
  /** The signature allow-list: ES256 and PS256, nothing else. */
  public static final List<String> DEFAULT_ALLOWED_ALGORITHMS = List.of("ES256", "PS256");

  private static final int MAX_TOKEN_BYTES = 16 * 1024;
  private static final Pattern BASE64URL = Pattern.compile("[A-Za-z0-9_-]*");
  private static final String HYPHENATED =
      "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
  /** The forms Payments' UUID parser accepts: simple, hyphenated, braced, URN. */
  private static final Pattern UUID =
      Pattern.compile(
          "[0-9a-fA-F]{32}|" + HYPHENATED + "|\\{" + HYPHENATED + "\\}|urn:uuid:" + HYPHENATED);

  /**
   * What records are checked against.
   *
   * @param issuer exact expected {@code iss}
   * @param audience audience that {@code aud} must contain, e.g. {@code payments-service}
   * @param trustedProducers client ids allowed as {@code act.sub}, e.g. {@code orders-service}
   * @param allowedAlgorithms the signature allow-list, normally {@link #DEFAULT_ALLOWED_ALGORITHMS}
   * @param leewaySeconds clock skew allowed on {@code exp} and {@code nbf}
   * @param maxRecordBytes largest key + value accepted
   */
  public record Settings(
      String issuer,
      String audience,
      Set<String> trustedProducers,
      List<String> allowedAlgorithms,
      long leewaySeconds,
      int maxRecordBytes) {
    /** Payments' defaults for {@code issuer}. */
    public static Settings defaults(String issuer) {
      return new Settings(
          issuer,
          "payments-service",
          Set.of("orders-service"),
          DEFAULT_ALLOWED_ALGORITHMS,
          5,
          256 * 1024);
    }
  }

  private record UsableKey(String alg, JWSVerifier verifier) {}

  private final Settings settings;
  private final Map<String, UsableKey> keys;

  private EventVerifier(Settings settings, Map<String, UsableKey> keys) {
    this.settings = settings;
    this.keys = keys;
  }

  /**
   * A verifier for the keys of {@code jwksJson} (a JWK Set) usable for signatures, as Payments
   * keeps them: keys without a {@code kid}, with a {@code use} other than {@code sig}, an {@code
   * alg} not matching the key type, RSA under 2048 bits, EC on a curve other than P-256, or an
   * algorithm off the allow-list are skipped.
   *
   * @throws ParseException if {@code jwksJson} is not a JSON object with a {@code keys} array
   */
  public static EventVerifier fromJwks(String jwksJson, Settings settings) throws ParseException {
    var set = JSONObjectUtils.parse(jwksJson);
    var keys = new HashMap<String, UsableKey>();
    for (var member : JSONObjectUtils.getJSONObjectArray(set, "keys")) {
      JWK jwk;
      try {
        jwk = JWK.parse(member);
      } catch (ParseException e) {
        continue;
      }
      if (jwk.getKeyID() == null
          || (jwk.getKeyUse() != null && !KeyUse.SIGNATURE.equals(jwk.getKeyUse()))) {
        continue;
      }
      try {
        String alg;
        JWSVerifier verifier;
        if (jwk instanceof RSAKey rsa && rsa.size() >= 2048) {
          alg = "PS256";
          verifier = new RSASSAVerifier(rsa.toRSAPublicKey());
        } else if (jwk instanceof ECKey ec && Curve.P_256.equals(ec.getCurve())) {
          alg = "ES256";
          verifier = new ECDSAVerifier(ec.toECPublicKey());
        } else {
          continue;
        }
        if ((jwk.getAlgorithm() != null && !alg.equals(jwk.getAlgorithm().getName()))
            || !settings.allowedAlgorithms().contains(alg)) {
          continue;
        }
        keys.put(jwk.getKeyID(), new UsableKey(alg, verifier));
      } catch (JOSEException e) {
        // An unusable key is skipped like any other.
      }
    }
    return new EventVerifier(settings, Map.copyOf(keys));
  }

  /** Lowercase hex SHA-256 of {@code payload}: the {@code event_payload_hash} claim. */
  public static String payloadHash(byte[] payload) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(payload));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }

  /** {@link #verify(byte[], byte[], long)} at the current time. */
  public VerifiedEvent verify(byte[] key, byte[] value) throws EventRejectedException {
    return verify(key, value, Instant.now().getEpochSecond());
  }

  /**
   * Runs every check on one record ({@code key} and {@code value} as received; {@code null} for
   * a record without a key) at {@code now} (Unix seconds).
   */
  public VerifiedEvent verify(byte[] key, byte[] value, long now) throws EventRejectedException {
    byte[] bytes = value == null ? new byte[0] : value;
    int size = bytes.length + (key == null ? 0 : key.length);
    if (size > settings.maxRecordBytes()) {
      throw reject(Reason.OVERSIZED_RECORD, size + " bytes");
    }
    if (bytes.length == 0) {
      throw reject(Reason.MALFORMED_ENVELOPE, "empty record value");
    }
    EventEnvelope envelope = parse(EventEnvelope.parser(), bytes, Reason.MALFORMED_ENVELOPE);
    if (!ORDER_CREATED_TYPE.equals(envelope.getEventType())) {
      throw reject(Reason.UNEXPECTED_EVENT_TYPE, envelope.getEventType());
    }
    Map<String, Object> claims = validateToken(envelope.getAccessToken(), now);
    if (!Arrays.asList(((String) claims.get("scope")).split(" ", -1)).contains(EVENT_SCOPE)) {
      throw reject(Reason.INSUFFICIENT_SCOPE, "");
    }
    Object actor = claims.get("act") instanceof Map<?, ?> act ? act.get("sub") : null;
    if (!(actor instanceof String producer) || !settings.trustedProducers().contains(producer)) {
      throw reject(Reason.UNTRUSTED_PRODUCER, "");
    }
    // Hash the bytes exactly as received, before decoding them.
    byte[] payload = envelope.getPayload().toByteArray();
    String digest = payloadHash(payload);
    Object claimed = claims.get("event_payload_hash");
    if (!MessageDigest.isEqual(
        digest.getBytes(StandardCharsets.UTF_8),
        (claimed instanceof String s ? s : "").getBytes(StandardCharsets.UTF_8))) {
      throw reject(Reason.PAYLOAD_HASH_MISMATCH, "");
    }
    OrderCreated order = parse(OrderCreated.parser(), payload, Reason.MALFORMED_PAYLOAD);
    String id = order.getOrderTransactionId();
    if (!UUID.matcher(id).matches()) {
      throw reject(Reason.MALFORMED_PAYLOAD, "order_transaction_id is not a UUID");
    }
    if (!id.equals(claims.get("order_transaction_id"))) {
      throw reject(Reason.TRANSACTION_MISMATCH, "payload and token claim differ");
    }
    if (key == null || !Arrays.equals(key, id.getBytes(StandardCharsets.UTF_8))) {
      throw reject(Reason.TRANSACTION_MISMATCH, "payload and record key differ");
    }
    if (!order.getUserId().equals(claims.get("sub"))) {
      throw reject(Reason.SUBJECT_MISMATCH, "");
    }
    if (order.getItemsCount() == 0
        || order.getTotalMinor() <= 0
        || itemsTotal(order.getItemsList()) != order.getTotalMinor()) {
      throw reject(Reason.AMOUNT_MISMATCH, "");
    }
    return new VerifiedEvent(order, claims, digest);
  }

  /** Sum of quantity * unit price in int64; -1 on overflow or a negative price. */
  private static long itemsTotal(List<OrderItem> items) {
    long total = 0;
    try {
      for (var item : items) {
        if (item.getUnitPriceMinor() < 0) {
          return -1;
        }
        total =
            Math.addExact(
                total,
                Math.multiplyExact(
                    Integer.toUnsignedLong(item.getQuantity()), item.getUnitPriceMinor()));
      }
    } catch (ArithmeticException overflow) {
      return -1;
    }
    return total;
  }

  /**
   * Checks an access token's header, key, signature, issuer, lifetime and audience at {@code
   * now} (Unix seconds) and returns its claims.
   */
  public Map<String, Object> validateToken(String token, long now) throws EventRejectedException {
    if (token.getBytes(StandardCharsets.UTF_8).length > MAX_TOKEN_BYTES) {
      throw reject(Reason.MALFORMED_TOKEN, "too long");
    }
    String[] parts = token.split("\\.", -1);
    if (parts.length != 3) {
      throw reject(Reason.MALFORMED_TOKEN, "not three dot-separated parts");
    }
    Map<String, Object> header;
    try {
      header = JSONObjectUtils.parse(new String(base64url(parts[0]), StandardCharsets.UTF_8));
    } catch (ParseException | IllegalArgumentException e) {
      throw reject(Reason.MALFORMED_TOKEN, "header is not base64url JSON");
    }
    if (!(header.get("alg") instanceof String alg)
        || !isOptionalString(header, "typ")
        || !isOptionalString(header, "kid")) {
      throw reject(Reason.MALFORMED_TOKEN, "header is not a JSON object with an alg");
    }
    if (!settings.allowedAlgorithms().contains(alg)) {
      throw reject(Reason.DISALLOWED_ALGORITHM, alg);
    }
    if (header.get("crit") != null) {
      throw reject(Reason.MALFORMED_TOKEN, "unsupported crit header");
    }
    String typ = header.get("typ") instanceof String t ? t.toLowerCase(Locale.ROOT) : "";
    if (!typ.equals("at+jwt") && !typ.equals("application/at+jwt")) {
      throw reject(Reason.WRONG_TOKEN_TYPE, typ);
    }
    if (!(header.get("kid") instanceof String kid)) {
      throw reject(Reason.MISSING_KID, "");
    }
    UsableKey key = keys.get(kid);
    if (key == null) {
      throw reject(Reason.UNKNOWN_KEY, kid);
    }
    if (!key.alg().equals(alg)) {
      throw reject(Reason.BAD_SIGNATURE, "the key is for " + key.alg());
    }
    JWSObject jws;
    try {
      base64url(parts[2]);
      jws = JWSObject.parse(token);
    } catch (ParseException | IllegalArgumentException e) {
      throw reject(Reason.MALFORMED_TOKEN, e.getMessage());
    }
    try {
      if (!jws.verify(key.verifier())) {
        throw reject(Reason.BAD_SIGNATURE, "");
      }
    } catch (JOSEException | IllegalStateException e) {
      throw reject(Reason.BAD_SIGNATURE, e.getMessage());
    }
    Map<String, Object> claims;
    try {
      claims = JSONObjectUtils.parse(new String(base64url(parts[1]), StandardCharsets.UTF_8));
    } catch (ParseException | IllegalArgumentException e) {
      throw reject(Reason.MALFORMED_TOKEN, "claims are not base64url JSON");
    }
    if (!claimsAreWellFormed(claims)) {
      throw reject(Reason.MALFORMED_TOKEN, "claims lack a required member");
    }
    long leeway = settings.leewaySeconds();
    if (!settings.issuer().equals(claims.get("iss"))) {
      throw reject(Reason.WRONG_ISSUER, String.valueOf(claims.get("iss")));
    }
    if (now > saturatingAdd((Long) claims.get("exp"), leeway)) {
      throw reject(Reason.TOKEN_EXPIRED, "");
    }
    if (saturatingAdd(now, leeway) < (Long) claims.get("nbf")) {
      throw reject(Reason.TOKEN_NOT_YET_VALID, "");
    }
    Object aud = claims.get("aud");
    boolean forUs =
        aud instanceof String one ? one.equals(settings.audience()) : ((List<?>) aud).contains(settings.audience());
    if (!forUs) {
      throw reject(Reason.WRONG_AUDIENCE, "");
    }
    return claims;
  }

  private static long saturatingAdd(long a, long b) {
    long sum = a + b;
    return ((a ^ sum) & (b ^ sum)) < 0 ? (a < 0 ? Long.MIN_VALUE : Long.MAX_VALUE) : sum;
  }

  /** Strict unpadded base64url, as RFC 7515 requires. */
  private static byte[] base64url(String part) {
    if (!BASE64URL.matcher(part).matches()) {
      throw new IllegalArgumentException("not base64url");
    }
    return Base64.getUrlDecoder().decode(part);
  }

  private static boolean isOptionalString(Map<String, Object> members, String name) {
    Object value = members.get(name);
    return value == null || value instanceof String;
  }

  /** The claim set Payments deserializes: required members with their JSON types. */
  private static boolean claimsAreWellFormed(Map<String, Object> claims) {
    for (var name : List.of("iss", "sub", "jti", "scope", "client_id")) {
      if (!(claims.get(name) instanceof String)) {
        return false;
      }
    }
    for (var name : List.of("exp", "nbf", "iat")) {
      if (!(claims.get(name) instanceof Long)) {
        return false;
      }
    }
    Object aud = claims.get("aud");
    if (!(aud instanceof String)
        && !(aud instanceof List<?> list && list.stream().allMatch(a -> a instanceof String))) {
      return false;
    }
    Object act = claims.get("act");
    if (act != null && !(act instanceof Map<?, ?> map && map.get("sub") instanceof String)) {
      return false;
    }
    return isOptionalString(claims, "order_transaction_id")
        && isOptionalString(claims, "event_payload_hash");
  }

  private static EventRejectedException reject(Reason reason, String detail) {
    return new EventRejectedException(reason, detail == null ? "" : detail);
  }

  /** {@code bytes} parsed by {@code parser}; what does not parse is refused with {@code reason}. */
  private static <T> T parse(Parser<T> parser, byte[] bytes, Reason reason)
      throws EventRejectedException {
    try {
      return parser.parseFrom(bytes);
    } catch (InvalidProtocolBufferException e) {
      throw reject(reason, e.getMessage());
    }
  }
}
