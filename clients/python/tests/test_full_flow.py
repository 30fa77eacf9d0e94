"""The full flow against the running local stack (``scripts/demo.sh``), from Python.

Skipped unless ``ZTE_STACK=1``. It gets a demo user's token, creates an order over gRPC,
reads the order's event from the real Kafka topic (record key = order id), verifies it with
``zte_client.verify_event`` (Payments' checks: the token against ``/jwks``, ES256 or PS256,
``typ`` ``at+jwt``, issuer, audience ``payments-service``, scope, producer; SHA-256 over the
payload bytes exactly as they travelled = ``event_payload_hash``; ids, user, amount), then
polls Payments until the payment shows.

Addresses default to the local stack's fixed ports; ``ZTE_ISSUER``, ``ZTE_ORDERS_ADDR``,
``ZTE_PAYMENTS_ADDR``, ``ZTE_KAFKA_BOOTSTRAP`` and ``ZTE_TOPIC`` override them.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("ZTE_STACK") != "1",
    reason="needs the running local stack (scripts/demo.sh); set ZTE_STACK=1 to run",
)

ISSUER = os.environ.get("ZTE_ISSUER", "http://127.0.0.1:18080")
ORDERS_ADDR = os.environ.get("ZTE_ORDERS_ADDR", "127.0.0.1:50051")
PAYMENTS_ADDR = os.environ.get("ZTE_PAYMENTS_ADDR", "127.0.0.1:50052")
KAFKA_BOOTSTRAP = os.environ.get("ZTE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
TOPIC = os.environ.get("ZTE_TOPIC", "orders.order-created.v1")
DEADLINE_SECONDS = 30.0


def current_end_offsets(consumer, topic: str):
    """Partitions of ``topic`` positioned at their current end (empty if it does not exist)."""
    from confluent_kafka import TopicPartition

    metadata = consumer.list_topics(topic, timeout=10)
    partitions = metadata.topics.get(topic)
    if partitions is None or partitions.error is not None:
        return []
    positioned = []
    for partition_id in partitions.partitions:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition_id), timeout=10)
        positioned.append(TopicPartition(topic, partition_id, high))
    return positioned


def read_record_with_key(consumer, topic: str, start, key: bytes):
    """Polls from ``start`` (or the beginning) until a record with ``key`` arrives."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    if start:
        consumer.assign(start)
    else:
        metadata = consumer.list_topics(topic, timeout=10)
        consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.topics[topic].partitions]
        )
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error() is not None:
            continue
        if message.key() == key:
            return message
    pytest.fail(f"no record with key {key!r} on {topic} within {DEADLINE_SECONDS}s")


def test_order_event_is_signed_hash_bound_and_paid():
    import grpc
    import jwt
    from confluent_kafka import Consumer

    from zte_client import fetch_jwks, password_token, payload_hash, verify_event
    from zte_client.gen.orders.v1 import orders_pb2, orders_pb2_grpc
    from zte_client.gen.payments.v1 import payments_pb2, payments_pb2_grpc

    token = password_token(ISSUER, "demouser", "Password1")
    metadata = (("authorization", f"Bearer {token}"),)

    consumer = Consumer(
        {
            "bootstrap.servers": KAFKA_BOOTSTRAP,
            "group.id": f"zte-python-client-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    try:
        start = current_end_offsets(consumer, TOPIC)

        items = [
            orders_pb2.OrderItem(sku="PY-☕-CLIENT", quantity=2, unit_price_minor=1234),
            orders_pb2.OrderItem(sku="PY-茶", quantity=1, unit_price_minor=99),
        ]
        expected_total = 2 * 1234 + 99
        with grpc.insecure_channel(ORDERS_ADDR) as channel:
            response = orders_pb2_grpc.OrdersServiceStub(channel).CreateOrder(
                orders_pb2.CreateOrderRequest(
                    request_id=str(uuid.uuid4()), items=items, currency="EUR"
                ),
                metadata=metadata,
                timeout=30,
            )
        order = response.order
        assert order.total_minor == expected_total
        assert order.user_id

        record = read_record_with_key(
            consumer, TOPIC, start, order.order_transaction_id.encode("utf-8")
        )
    finally:
        consumer.close()

    verified = verify_event(record.value(), record.key(), fetch_jwks(ISSUER), ISSUER)
    event = verified.order_created
    claims = verified.claims

    # The hash claim is SHA-256 over the payload bytes exactly as they travelled.
    from zte_client.gen.events.v1 import events_pb2

    raw_payload = events_pb2.EventEnvelope.FromString(record.value()).payload
    assert claims["event_payload_hash"] == payload_hash(raw_payload)
    assert claims["aud"] in ("payments-service", ["payments-service"])
    assert claims["scope"] == "trigger_payments"
    assert claims["act"]["sub"] == "orders-service"
    assert claims["client_id"] == "orders-service"
    assert claims["order_transaction_id"] == order.order_transaction_id
    header = jwt.get_unverified_header(
        events_pb2.EventEnvelope.FromString(record.value()).access_token
    )
    assert header["typ"] == "at+jwt"
    # Identity signs ES256 by default: this is a real ES256 event token, verified above.
    assert header["alg"] == "ES256"
    assert event.order_transaction_id == order.order_transaction_id
    assert event.user_id == order.user_id
    assert event.total_minor == expected_total
    assert [(i.sku, i.quantity, i.unit_price_minor) for i in event.items] == [
        (i.sku, i.quantity, i.unit_price_minor) for i in items
    ]

    deadline = time.monotonic() + DEADLINE_SECONDS
    with grpc.insecure_channel(PAYMENTS_ADDR) as channel:
        payments = payments_pb2_grpc.PaymentsServiceStub(channel)
        while True:
            try:
                payment = payments.GetPayment(
                    payments_pb2.GetPaymentRequest(
                        order_transaction_id=order.order_transaction_id
                    ),
                    metadata=metadata,
                    timeout=10,
                ).payment
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    assert payment.order_transaction_id == order.order_transaction_id
    assert payment.amount_minor == expected_total
    assert payment.currency == "EUR"
    assert payment.user_id == order.user_id
    assert payment.triggered_by == "orders-service"
