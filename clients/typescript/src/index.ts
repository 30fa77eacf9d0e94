// The TypeScript client of the zero-trust order events services:
// - `./gen/...`: protobuf-es code generated from proto/ (messages and the OrdersService /
//   PaymentsService descriptors that @connectrpc/connect clients take);
// - `passwordToken`: a demo user's token from the authorization server;
// - `EventVerifier` / `verifyEvent`: check an OrderCreated Kafka record the way Payments does,
//   with its reason names.

export * from "./verify.js";

/** A user access token from `{issuer}/token` with the password grant (demo users only). */
export async function passwordToken(
  issuer: string,
  username: string,
  password: string,
  clientId = "demo-cli",
  scope = "orders payments",
): Promise<string> {
  const response = await fetch(`${issuer.replace(/\/+$/, "")}/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "password", client_id: clientId, username, password, scope }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as { access_token?: string; error?: string };
  if (!response.ok || typeof body.access_token !== "string") {
    throw new Error(`token endpoint: HTTP ${response.status} ${body.error ?? ""}`);
  }
  return body.access_token;
}

/** The authorization server's JWK Set (`{issuer}/jwks`). */
export async function fetchJwks(issuer: string): Promise<import("./verify.js").JwkSet> {
  const response = await fetch(`${issuer.replace(/\/+$/, "")}/jwks`, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) {
    throw new Error(`jwks: HTTP ${response.status}`);
  }
  return (await response.json()) as import("./verify.js").JwkSet;
}
