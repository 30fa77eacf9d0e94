package io.zte.client;

import com.nimbusds.jose.util.JSONObjectUtils;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.util.Map;

/** The repository's shared test files under {@code proto/testdata}. */
final class TestData {
  private TestData() {}

  static Map<String, Object> read(String name) throws IOException, ParseException {
    // Surefire runs in the module directory, clients/java.
    Path path = Path.of("..", "..", "proto", "testdata", name);
    return JSONObjectUtils.parse(Files.readString(path));
  }
}
