#!/usr/bin/env bash
# Tests the Java client: `mvn test` generates the code from proto/ (protoc from Maven Central),
# compiles, and runs JUnit: the hash vectors and the shared adversarial cases always; the live
# test (a real event consumed with the Kafka Java client and verified) only with ZTE_STACK=1
# against the local stack. Maven's repository is the usual ~/.m2 (MAVEN_OPTS/-Dmaven.repo.local
# to change it). Extra arguments go to mvn.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
  echo "java client: needs a JDK 17+ (javac) and Maven 3.8+ (scripts/install-tools.sh installs them)" >&2
  exit 1
fi
mvn -B -q -ntp -Dstyle.color=never test "$@"
# Surefire's per-class lines, and a closing count.
total=0; failed=0; skipped=0
for report in target/surefire-reports/*.txt; do
  line="$(grep -h "Tests run" "$report")"
  echo "$line"
  read -r run fail err skip < <(sed -E 's/Tests run: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+), Skipped: ([0-9]+).*/\1 \2 \3 \4/' <<<"$line")
  total=$((total + run)); failed=$((failed + fail + err)); skipped=$((skipped + skip))
done
echo "java client: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
