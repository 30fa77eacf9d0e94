// Against the running local stack (scripts/demo.sh) only, with ZTE_STACK=1: a demo user's
// token, CreateOrder over gRPC (Connect's gRPC transport for Node), then the order's event read
// from the real topic with kafkajs (LZ4 batches decoded by lz4js) and verified with EventVerifier against Identity's JWKS.
// ZTE_ISSUER, ZTE_ORDERS_ADDR, ZTE_KAFKA_BOOTSTRAP and ZTE_TOPIC override the local addresses.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { create, fromBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { decodeProtectedHeader } from "jose";
import kafkajs, { type KafkaMessage } from "kafkajs";
import * as lz4 from "lz4js";

import { EventEnvelopeSchema } from "../src/gen/events/v1/events_pb.js";
import { CreateOrderRequestSchema, OrderItemSchema, OrdersService } from "../src/gen/orders/v1/orders_pb.js";
import { EventVerifier, fetchJwks, passwordToken } from "../src/index.js";

// kafkajs is CommonJS: its codec registry is only reachable through the default export.
const { CompressionCodecs, CompressionTypes, Kafka, logLevel } = kafkajs;
const env = (name: string, fallback: string) => process.env[name] || fallback;
const ISSUER = env("ZTE_ISSUER", "http://127.0.0.1:18080");
const ORDERS_ADDR = env("ZTE_ORDERS_ADDR", "127.0.0.1:50051");
const KAFKA = env("ZTE_KAFKA_BOOTSTRAP", "127.0.0.1:19092");
const TOPIC = env("ZTE_TOPIC", "orders.order-created.v1");
const DEADLINE_MS = 30_000;

// Orders publishes LZ4-compressed batches; kafkajs ships no LZ4 codec, so register the
// pure-JavaScript one (no native build).
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder: { buffer: Buffer }) => Buffer.from(lz4.compress(encoder.buffer)),
  decompress: async (buffer: Buffer) => Buffer.from(lz4.decompress(buffer)),
});

test(
  "a real order event is consumed with kafkajs and verified",
  { skip: process.env.ZTE_STACK !== "1" && "needs the running local stack (scripts/demo.sh); set ZTE_STACK=1 to run" },
  async () => {
    const token = await passwordToken(ISSUER, "demouser", "Password1");
    const kafka = new Kafka({ clientId: `zte-ts-client-${randomUUID()}`, brokers: [KAFKA], logLevel: logLevel.WARN });
    const admin = kafka.admin();
    await admin.connect();
    // Positions before the order, so only records written after them are read.
    const start = (await admin.listTopics()).includes(TOPIC) ? await admin.fetchTopicOffsets(TOPIC) : [];
    await admin.disconnect();

    const consumer = kafka.consumer({ groupId: `zte-ts-client-${randomUUID()}` });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: TOPIC, fromBeginning: start.length === 0 });
      let wantedKey: string | undefined;
      const seen: KafkaMessage[] = [];
      let found: (message: KafkaMessage) => void = () => {};
      const record = new Promise<KafkaMessage>((resolve, reject) => {
        found = resolve;
        setTimeout(() => reject(new Error(`no record for the order on ${TOPIC} within ${DEADLINE_MS} ms`)), DEADLINE_MS).unref();
      });
      await consumer.run({
        eachMessage: async ({ message }) => {
          if (wantedKey === undefined) {
            seen.push(message);
          } else if (message.key?.toString("utf8") === wantedKey) {
            found(message);
          }
        },
      });
      for (const { partition, offset } of start) {
        consumer.seek({ topic: TOPIC, partition, offset });
      }

      const transport = createGrpcTransport({ baseUrl: `http://${ORDERS_ADDR}` });
      const orders = createClient(OrdersService, transport);
      const response = await orders.createOrder(
        create(CreateOrderRequestSchema, {
          requestId: randomUUID(),
          currency: "EUR",
          items: [
            create(OrderItemSchema, { sku: "TS-☕", quantity: 2, unitPriceMinor: 1234n }),
            create(OrderItemSchema, { sku: "TS-茶", quantity: 1, unitPriceMinor: 99n }),
          ],
        }),
        { headers: { authorization: `Bearer ${token}` }, timeoutMs: 30_000 },
      );
      const order = response.order;
      assert.ok(order);
      assert.equal(order.totalMinor, 2n * 1234n + 99n);
      wantedKey = order.orderTransactionId;
      const early = seen.find((m) => m.key?.toString("utf8") === wantedKey);
      const message = early ?? (await record);

      const verifier = await EventVerifier.create(await fetchJwks(ISSUER), { issuer: ISSUER });
      const event = await verifier.verify(message.key, message.value);
      assert.equal(event.order.orderTransactionId, order.orderTransactionId);
      assert.equal(event.order.userId, order.userId);
      assert.equal(event.order.totalMinor, order.totalMinor);
      assert.equal(event.order.items[0]?.sku, "TS-☕");
      assert.equal(event.claims.scope, "trigger_payments");
      assert.deepEqual(event.claims.act, { sub: "orders-service" });
      // Identity signs ES256 by default: this is a real ES256 event token, verified.
      const envelope = fromBinary(EventEnvelopeSchema, message.value ?? new Uint8Array());
      assert.equal(decodeProtectedHeader(envelope.accessToken).alg, "ES256");
    } finally {
      await consumer.disconnect();
    }
  },
);
