// The repository's shared test files under proto/testdata.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export function readTestData<T>(name: string): T {
  // Compiled to dist/test/, four levels below the repository root.
  const url = new URL(`../../../../proto/testdata/${name}`, import.meta.url);
  return JSON.parse(readFileSync(fileURLToPath(url), "utf8")) as T;
}
