package io.zte.client;

import com.nimbusds.jose.util.JSONObjectUtils;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.function.ThrowingConsumer;

/** The repository's shared test files under {@code proto/testdata}. */
final class TestData {
  private TestData() {}

  static Map<String, Object> read(String name) throws IOException, ParseException {
    // Surefire runs in the module directory, clients/java.
    Path path = Path.of("..", "..", "proto", "testdata", name);
    return JSONObjectUtils.parse(Files.readString(path));
  }

  /** The objects in the array {@code key} of the file {@code name}. */
  @SuppressWarnings("unchecked")
  static List<Map<String, Object>> entries(String name, String key)
      throws IOException, ParseException {
    return (List<Map<String, Object>>) read(name).get(key);
  }

  /** One dynamic test per entry, named by the entry's {@code name}. */
  static Stream<DynamicTest> eachNamed(
      List<Map<String, Object>> entries, ThrowingConsumer<Map<String, Object>> test) {
    return DynamicTest.stream(entries.stream(), entry -> (String) entry.get("name"), test);
  }
}
