"""Attacks on the secure Kafka broker (scripts/kafka.sh with KAFKA_SECURITY=oauth).

Each check tries something the broker must refuse (or, as a control, something it must
allow) with a real client (confluent-kafka, i.e. librdkafka, the library the Rust services
use) and reports how the broker answered. scripts/test-kafka-security.sh runs them against a
broker and a stand-in issuer of its own; everything they need comes in through `Target`, and
tokens through a `TokenSource`, so the same checks run against the real Identity once it
issues Kafka service tokens.

The event topic, its DLQ and retry topic and the consumer group must exist with the flow's
ACLs (`kafka.sh acl-grant --partitions 1 ...`) before the checks run.
"""

from __future__ import annotations

import argparse
import logging
import socket
import ssl
import struct
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ORDERS = "orders-service"
PAYMENTS = "payments-service"


class TokenSource(Protocol):
    """Access tokens for the broker's OAUTHBEARER listener."""

    def valid(self, client_id: str, lifetime: int = 300) -> str: ...

    def expired(self, client_id: str) -> str: ...

    def forged(self, client_id: str) -> str:
        """Signed by a key that is not in the JWKS, under a `kid` that is."""
        ...

    def wrong_audience(self, client_id: str) -> str: ...

    def wrong_issuer(self, client_id: str) -> str: ...


class StandinTokens:
    """Tokens from the stand-in issuer (oauth_standin.py) sharing its state directory."""

    def __init__(self, state: Path, audience: str) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from oauth_standin import Issuer  # noqa: PLC0415 (next to this file, not installed)

        self.issuer = Issuer.load(state)
        self.audience = audience

    def valid(self, client_id: str, lifetime: int = 300) -> str:
        return self.issuer.mint(client_id, self.audience, lifetime)

    def expired(self, client_id: str) -> str:
        # Beyond the broker's clock skew allowance (sasl.oauthbearer.clock.skew.seconds, 30 s).
        return self.issuer.mint(client_id, self.audience, -120)

    def forged(self, client_id: str) -> str:
        return self.issuer.mint(client_id, self.audience, forged=True)

    def wrong_audience(self, client_id: str) -> str:
        return self.issuer.mint(client_id, "payments-service")

    def wrong_issuer(self, client_id: str) -> str:
        return self.issuer.mint(client_id, self.audience, issuer="https://attacker.invalid")


@dataclass
class Target:
    """The broker under test and the names the flow's ACLs were granted for."""

    bootstrap: str  # OAUTH listener (SASL_SSL)
    admin_bootstrap: str  # ADMIN listener (SSL, client certificate)
    controller: str  # CONTROLLER listener
    ca: str
    pki_dir: Path
    tokens: TokenSource
    topic: str
    group: str
    dlq: str
    retry: str
    refresh_lifetime: int


class LogCapture(logging.Handler):
    """Collects librdkafka's log lines (its `logger` hook) to show how a refusal looked."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def find(self, *needles: str) -> str | None:
        for line in self.lines:
            if any(n in line for n in needles):
                return line
        return None


def new_logger() -> tuple[logging.Logger, LogCapture]:
    logger = logging.getLogger(f"rdkafka-{uuid.uuid4().hex[:8]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    capture = LogCapture()
    logger.addHandler(capture)
    return logger, capture


def oauth_conf(t: Target, token: Callable[[], str] | None, **extra: object) -> tuple[dict, LogCapture, list]:
    """Client configuration for the OAUTH listener; `token` feeds librdkafka's oauth_cb."""
    logger, capture = new_logger()
    errors: list[KafkaError] = []
    conf: dict = {
        "bootstrap.servers": t.bootstrap,
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "OAUTHBEARER",
        "ssl.ca.location": t.ca,
        "logger": logger,
        "error_cb": errors.append,
        "socket.connection.setup.timeout.ms": 5000,
        "reconnect.backoff.max.ms": 1000,
    }
    if token is not None:
        conf["oauth_cb"] = lambda _config: (token(), time.time() + 60)
    conf.update(extra)
    return conf, capture, errors


def tls_conf(
    t: Target, bootstrap: str, cert: str | None, key: str | None, **extra: object
) -> tuple[dict, LogCapture, list]:
    logger, capture = new_logger()
    errors: list[KafkaError] = []
    conf: dict = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SSL",
        "ssl.ca.location": t.ca,
        "logger": logger,
        "error_cb": errors.append,
        "socket.connection.setup.timeout.ms": 5000,
        "reconnect.backoff.max.ms": 1000,
    }
    if cert:
        conf["ssl.certificate.location"] = cert
        conf["ssl.key.location"] = key
    conf.update(extra)
    return conf, capture, errors


def kafka_over_tls(addr: str, ca: str, cert: str | None = None, key: str | None = None) -> tuple[bool, str]:
    """Opens TLS to a listener (presenting `cert` if given: unlike librdkafka, Python's ssl
    sends it even when the server names other CAs), sends an ApiVersions v0 request and says
    whether the broker answered it, or how it refused."""
    host, port = addr.rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca)
    if cert:
        context.load_cert_chain(cert, key)
    client_id = b"security-check"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(struct.pack(">i", len(body)) + body)
                head = tls.recv(4)
    except ssl.SSLError as e:
        return False, f"TLS alert from the broker: {e.reason or e}"
    except OSError as e:
        return False, f"connection failed: {e}"
    if len(head) < 4:
        return False, "the broker closed the connection without answering"
    return True, f"answered ApiVersions ({struct.unpack('>i', head)[0]} bytes)"


REFUSAL_MARKS = (
    "SASL authentication error",
    "SSL handshake failed",
    "Disconnected",
    "Connection reset",
    "certificate verify failed",
    "Authentication",
)


def refused_connection(
    conf: dict, capture: LogCapture, errors: list, expect: str | None = None, wait: float = 15.0
) -> tuple[bool, str]:
    """True when no metadata comes back (and, with `expect`, librdkafka logged a refusal
    containing it); the detail is the first refusal librdkafka saw."""
    producer = Producer(conf)
    deadline = time.monotonic() + wait
    got_metadata = False
    while time.monotonic() < deadline:
        try:
            producer.list_topics(timeout=1.0)
            got_metadata = True
            break
        except KafkaException:
            pass
        producer.poll(0)
        if capture.find(*REFUSAL_MARKS) or any(
            e.code() in (KafkaError._AUTHENTICATION, KafkaError._ALL_BROKERS_DOWN) for e in errors
        ):
            break
    producer.poll(0)
    line = capture.find(*REFUSAL_MARKS)
    codes = sorted({e.name() for e in errors})
    detail = (line.split(": ", 1)[-1] if line else "no answer") + (
        f" [error_cb: {', '.join(codes)}]" if codes else ""
    )
    if got_metadata:
        return False, "the broker answered a metadata request"
    if expect and not capture.find(expect):
        return False, f"refused, but not with {expect!r}: {detail}"
    return True, detail


def produce_one(conf: dict, topic: str, wait: float = 20.0) -> tuple[KafkaError | None, str]:
    """Produces one record (idempotent, acks=all, as the services do) and waits for its
    delivery report: (error or None, detail)."""
    producer = Producer(
        {**conf, "enable.idempotence": True, "acks": "all", "message.timeout.ms": int(wait * 1000)}
    )
    outcome: list[KafkaError | None] = []
    deadline = time.monotonic() + wait + 5
    try:
        producer.produce(topic, key=b"k", value=b"v", on_delivery=lambda err, _msg: outcome.append(err))
        while not outcome and time.monotonic() < deadline:
            producer.poll(0.2)
    except KafkaException as refused:
        # A fatal error (an idempotent producer whose InitProducerId was refused) surfaces
        # from produce() as a bare _FATAL, and with the broker's error from the next poll().
        error: KafkaError = refused.args[0]
        try:
            producer.poll(1.0)
        except KafkaException as cause:
            error = cause.args[0]
        return error, error.str()
    if not outcome:
        return KafkaError(KafkaError._TIMED_OUT), "no delivery report"
    err = outcome[0]
    return err, ("delivered" if err is None else f"{err.name()}: {err.str()}")


def consume(conf: dict, topic: str, group: str | None, wait: float = 20.0) -> tuple[KafkaError | None, int]:
    """Reads `topic` from the beginning (with `group`, or by assignment without one):
    (first error, records read)."""
    consumer = Consumer(
        {
            **conf,
            "group.id": group or f"unused-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    if group:
        consumer.subscribe([topic])
    else:
        consumer.assign([TopicPartition(topic, 0, 0)])
    deadline = time.monotonic() + wait
    read, error = 0, None
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                if read:
                    break
                continue
            if msg.error():
                if group is None and msg.error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED:
                    continue  # the coordinator lookup librdkafka always makes; wait for the fetch
                error = msg.error()
                break
            read += 1
            if group:
                consumer.commit(msg, asynchronous=False)
    except KafkaException as e:
        error = e.args[0]
    finally:
        consumer.close()
    return error, read


class Checks:
    def __init__(self, target: Target) -> None:
        self.t = target
        self.passed = 0
        self.failed = 0

    def run(self, name: str, check: Callable[[], tuple[bool, str]]) -> None:
        started = time.monotonic()
        try:
            ok, detail = check()
        except Exception as e:  # noqa: BLE001 (a crashing check is a failed check)
            ok, detail = False, f"check crashed: {e!r}"
        took = time.monotonic() - started
        print(f"{'ok  ' if ok else 'FAIL'} {name} ({took:.1f}s)\n       {detail}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    # --- who may connect ---------------------------------------------------------------

    def oauth_refused(
        self, token: Callable[[], str] | None, expect: str = "SASL authentication error", **extra: object
    ) -> tuple[bool, str]:
        conf, capture, errors = oauth_conf(self.t, token, **extra)
        return refused_connection(conf, capture, errors, expect)

    def authentication(self) -> None:
        t, tok = self.t, self.t.tokens
        self.run(
            "plaintext client on the OAuth listener is refused",
            lambda: refused_connection(
                *tls_conf(t, t.bootstrap, None, None, **{"security.protocol": "PLAINTEXT"})
            ),
        )
        self.run(
            "TLS client without SASL on the OAuth listener is refused",
            lambda: refused_connection(*tls_conf(t, t.bootstrap, None, None), expect="Disconnected"),
        )
        self.run(
            "unsigned token (alg none, no key) is refused",
            lambda: self.oauth_refused(
                None,
                **{
                    "enable.sasl.oauthbearer.unsecure.jwt": True,
                    "sasl.oauthbearer.config": f"principal={ORDERS}",
                },
            ),
        )
        self.run(
            "token signed by a foreign key under the JWKS's kid is refused",
            lambda: self.oauth_refused(lambda: tok.forged(ORDERS)),
        )
        self.run("expired token is refused", lambda: self.oauth_refused(lambda: tok.expired(ORDERS)))
        self.run(
            "token for another audience is refused",
            lambda: self.oauth_refused(lambda: tok.wrong_audience(ORDERS)),
        )
        self.run(
            "token from another issuer is refused",
            lambda: self.oauth_refused(lambda: tok.wrong_issuer(ORDERS)),
        )
        self.run(
            "client that trusts another CA does not accept the broker's certificate",
            lambda: self.oauth_refused(
                lambda: tok.valid(ORDERS),
                "certificate verify failed",
                **{"ssl.ca.location": str(t.pki_dir / "foreign/ca.crt")},
            ),
        )

    def admin_path(self) -> None:
        t, pki = self.t, self.t.pki_dir

        def cert(name: str) -> tuple[str, str]:
            return str(pki / name / "client.crt"), str(pki / name / "client.key")

        def refused(ok_detail: tuple[bool, str]) -> tuple[bool, str]:
            answered, detail = ok_detail
            return not answered, detail

        self.run(
            "admin listener without a client certificate is refused",
            lambda: refused(kafka_over_tls(t.admin_bootstrap, t.ca)),
        )
        self.run(
            "admin listener: certificate CN=admin from another CA is refused",
            lambda: refused(kafka_over_tls(t.admin_bootstrap, t.ca, *cert("foreign"))),
        )
        self.run(
            "admin listener: PKI client certificate other than admin (CN=orders) is refused",
            lambda: refused(kafka_over_tls(t.admin_bootstrap, t.ca, *cert("orders"))),
        )
        self.run(
            "controller listener refuses the admin certificate",
            lambda: refused(kafka_over_tls(t.controller, t.ca, *cert("admin"))),
        )
        self.run(
            "admin listener answers the admin certificate (control)",
            lambda: kafka_over_tls(t.admin_bootstrap, t.ca, *cert("admin")),
        )

        def admin_sees_topics() -> tuple[bool, str]:
            conf, _, _ = tls_conf(t, t.admin_bootstrap, *cert("admin"))
            topics = AdminClient(conf).list_topics(timeout=15).topics
            ok = {t.topic, t.dlq, t.retry} <= set(topics)
            return ok, f"admin (librdkafka) sees {len(topics)} topics, the flow's among them: {ok}"

        self.run("admin client lists the topics over the admin listener (control)", admin_sees_topics)

    # --- what each principal may do ------------------------------------------------------

    def token_conf(self, client_id: str, lifetime: int = 300) -> dict:
        conf, _, _ = oauth_conf(self.t, lambda: self.t.tokens.valid(client_id, lifetime))
        return conf

    def expect_error(self, err: KafkaError | None, *codes: int) -> tuple[bool, str]:
        if err is None:
            return False, "allowed"
        return err.code() in codes, f"{err.name()}: {err.str()}"

    def expect_refused_producer(self, err: KafkaError | None) -> tuple[bool, str]:
        """Refused at the topic, or (idempotent producer without WRITE anywhere) at InitProducerId."""
        if err is None:
            return False, "allowed"
        detail = f"{err.name()}: {err.str()}"
        authz = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED)
        return err.code() in authz or (err.fatal() and "authorization failed" in err.str().lower()), detail

    def authorization(self) -> None:
        t = self.t
        self.run(
            "payments-service cannot produce to the event topic",
            lambda: self.expect_error(
                produce_one(self.token_conf(PAYMENTS), t.topic)[0], KafkaError.TOPIC_AUTHORIZATION_FAILED
            ),
        )
        self.run(
            "orders-service cannot read the event topic (with a consumer group)",
            lambda: self.expect_error(
                consume(self.token_conf(ORDERS), t.topic, t.group)[0], KafkaError.GROUP_AUTHORIZATION_FAILED
            ),
        )
        self.run(
            "orders-service cannot read the event topic (fetch without a group)",
            lambda: self.expect_error(
                consume(self.token_conf(ORDERS), t.topic, None)[0], KafkaError.TOPIC_AUTHORIZATION_FAILED
            ),
        )
        self.run(
            "orders-service cannot write the dead-letter topic",
            lambda: self.expect_error(
                produce_one(self.token_conf(ORDERS), t.dlq)[0], KafkaError.TOPIC_AUTHORIZATION_FAILED
            ),
        )
        self.run(
            "payments-service cannot consume with another group",
            lambda: self.expect_error(
                consume(self.token_conf(PAYMENTS), t.topic, f"{t.group}-other")[0],
                KafkaError.GROUP_AUTHORIZATION_FAILED,
            ),
        )
        self.run(
            "a valid token of an unknown client cannot produce anything",
            lambda: self.expect_refused_producer(produce_one(self.token_conf("intruder"), t.topic)[0]),
        )

        def payments_cannot_create_topics() -> tuple[bool, str]:
            admin = AdminClient(self.token_conf(PAYMENTS))
            futures = admin.create_topics([NewTopic(f"{t.topic}-new", 1, 1)])
            try:
                next(iter(futures.values())).result(timeout=20)
            except KafkaException as e:
                err = e.args[0]
                return err.code() in (
                    KafkaError.TOPIC_AUTHORIZATION_FAILED,
                    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
                ), f"{err.name()}: {err.str()}"
            return False, "topic created"

        self.run("payments-service cannot create topics", payments_cannot_create_topics)

        def orders_produces() -> tuple[bool, str]:
            err, detail = produce_one(self.token_conf(ORDERS), t.topic)
            return err is None, f"idempotent, acks=all: {detail}"

        self.run("orders-service produces to the event topic (control)", orders_produces)

        def payments_consumes() -> tuple[bool, str]:
            err, read = consume(self.token_conf(PAYMENTS), t.topic, t.group)
            return err is None and read >= 1, f"read {read} record(s) with group {t.group}, committed" + (
                f"; {err.str()}" if err else ""
            )

        self.run("payments-service consumes the event topic with its group (control)", payments_consumes)

        def payments_dead_letters_and_retries() -> tuple[bool, str]:
            dlq_err, dlq = produce_one(self.token_conf(PAYMENTS), t.dlq)
            retry_err, retry = produce_one(self.token_conf(PAYMENTS), t.retry)
            read_err, read = consume(self.token_conf(PAYMENTS), t.retry, t.group)
            ok = dlq_err is None and retry_err is None and read_err is None and read >= 1
            return ok, f"DLQ: {dlq}; retry: {retry}; retry read back: {read}"

        self.run(
            "payments-service writes the DLQ and the retry topic and reads the retry topic (control)",
            payments_dead_letters_and_retries,
        )

    def refresh(self) -> None:
        """A producer whose tokens live `refresh_lifetime` seconds keeps producing for more
        than twice that: librdkafka refreshes the token and re-authenticates (KIP-368) when
        the broker ends the session at the token's `exp`."""
        lifetime = self.t.refresh_lifetime

        def keeps_producing() -> tuple[bool, str]:
            minted: list[float] = []

            def token() -> str:
                minted.append(time.monotonic())
                return self.t.tokens.valid(ORDERS, lifetime)

            # debug=security: librdkafka logs each (re-)authentication and its session lifetime.
            conf, capture, _ = oauth_conf(self.t, None, debug="security")
            conf["oauth_cb"] = lambda _config: (token(), time.time() + lifetime)
            producer = Producer(
                {**conf, "enable.idempotence": True, "acks": "all", "message.timeout.ms": 10000}
            )
            failures: list[str] = []
            delivered = 0

            def report(err: KafkaError | None, _msg: object) -> None:
                nonlocal delivered
                if err is None:
                    delivered += 1
                else:
                    failures.append(err.str())

            sent = 0
            started = time.monotonic()
            end = started + 2.5 * lifetime
            while time.monotonic() < end:
                producer.produce(self.t.topic, key=b"refresh", value=str(sent).encode(), on_delivery=report)
                sent += 1
                # Pace: about five records a second, serving callbacks meanwhile.
                next_send = started + sent * 0.2
                while (left := next_send - time.monotonic()) > 0:
                    producer.poll(left)
            producer.flush(15)
            sessions = sum("Received session lifetime" in line for line in capture.lines)
            reauths = sum("Auth in state REAUTH" in line for line in capture.lines)
            refused = sum("Request not valid in current SASL state" in line for line in capture.lines)
            ok = delivered == sent and not failures and len(minted) >= 3 and reauths >= 1
            return ok, (
                f"{delivered}/{sent} delivered over {2.5 * lifetime:.0f}s with {lifetime}s tokens: "
                f"{len(minted)} tokens fetched, {sessions} sessions with a broker-set lifetime, "
                f"{reauths} re-authentications on open connections ({refused} refused by the broker "
                "as ILLEGAL_SASL_STATE, then reconnected)"
                + (f"; failures: {failures[:2]}" if failures else "")
            )

        self.run(f"a producer outlives its {lifetime}s tokens (refresh + re-authentication)", keeps_producing)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--admin-bootstrap", required=True)
    parser.add_argument("--controller", required=True)
    parser.add_argument("--pki-dir", required=True, type=Path)
    parser.add_argument("--standin-state", required=True, type=Path)
    parser.add_argument("--audience", default="kafka")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--dlq")
    parser.add_argument("--retry")
    parser.add_argument(
        "--refresh-lifetime", type=int, default=10, help="token lifetime of the refresh check (0: skip)"
    )
    args = parser.parse_args()
    target = Target(
        bootstrap=args.bootstrap,
        admin_bootstrap=args.admin_bootstrap,
        controller=args.controller,
        ca=str(args.pki_dir / "ca.crt"),
        pki_dir=args.pki_dir,
        tokens=StandinTokens(args.standin_state, args.audience),
        topic=args.topic,
        group=args.group,
        dlq=args.dlq or f"{args.topic}.dlq",
        retry=args.retry or f"{args.topic}.retry",
        refresh_lifetime=args.refresh_lifetime,
    )
    checks = Checks(target)
    checks.authentication()
    checks.admin_path()
    checks.authorization()
    if target.refresh_lifetime > 0:
        checks.refresh()
    print(f"kafka security: {checks.passed} passed, {checks.failed} failed")
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
