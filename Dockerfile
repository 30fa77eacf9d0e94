# syntax=docker/dockerfile:1
# Multi-stage build of the three services; pick one with --target identity|orders|payments
# (compose/docker-compose.yml does). Builder: the Rust toolchain on Debian bookworm; runtime:
# debian:bookworm-slim with only CA certificates, a non-root user (uid 10001, matching the
# Kubernetes securityContext) and, for the gRPC services, grpc-health-probe for health checks.
# The data directories exist in the image owned by uid 10001 (mode 0700) so that an empty
# named volume mounted over one takes that owner: the services write only there (root
# filesystem read-only). /var/lib/zte/orders-client-jwk is where `orders keygen` puts the
# public JWK for identity in compose. Identity chmods its data dir to 0700, so that dir must
# be owned by uid 10001 (on Kubernetes it is a subdirectory of the volume, see k8s/).
# Not built on the development machine (no Docker engine there); see the README.

FROM rust:1.89-bookworm AS builder
# cmake and friends for librdkafka's bundled build (rdkafka-sys).
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p identity -p orders -p payments --bins \
 && mkdir -p /out \
 && cp target/release/identity target/release/orders target/release/payments /out/

FROM golang:1.26-bookworm AS probe
RUN CGO_ENABLED=0 GOBIN=/out go install github.com/grpc-ecosystem/grpc-health-probe@v0.4.61

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 zte \
 && useradd --system --uid 10001 --gid zte --home-dir /var/lib/zte --shell /usr/sbin/nologin zte \
 && mkdir -p /var/lib/zte/identity /var/lib/zte/orders /var/lib/zte/payments /var/lib/zte/orders-client-jwk \
 && chown -R zte:zte /var/lib/zte \
 && chmod -R 0700 /var/lib/zte
WORKDIR /var/lib/zte
USER 10001:10001

FROM runtime AS identity
COPY --from=builder /out/identity /usr/local/bin/identity
ENV IDENTITY_LISTEN=0.0.0.0:8080 \
    IDENTITY_DATA_DIR=/var/lib/zte/identity
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/identity"]

# Orders and Payments: the same health check, grpc-health-probe asking the gRPC health service
# named by HEALTH_SERVICE on 127.0.0.1:GRPC_PORT (each target sets both).
FROM runtime AS grpc-runtime
COPY --from=probe /out/grpc-health-probe /usr/local/bin/grpc-health-probe
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=12 \
  CMD grpc-health-probe -addr="127.0.0.1:${GRPC_PORT}" -service="${HEALTH_SERVICE}"

FROM grpc-runtime AS orders
COPY --from=builder /out/orders /usr/local/bin/orders
ENV GRPC_PORT=50051 HEALTH_SERVICE=orders.v1.OrdersService
ENV ORDERS_LISTEN=0.0.0.0:${GRPC_PORT} ORDERS_DATA_DIR=/var/lib/zte/orders
EXPOSE ${GRPC_PORT}
ENTRYPOINT ["/usr/local/bin/orders"]

FROM grpc-runtime AS payments
COPY --from=builder /out/payments /usr/local/bin/payments
ENV GRPC_PORT=50052 HEALTH_SERVICE=payments.v1.PaymentsService
ENV PAYMENTS_LISTEN=0.0.0.0:${GRPC_PORT} PAYMENTS_DATA_DIR=/var/lib/zte/payments
EXPOSE ${GRPC_PORT}
ENTRYPOINT ["/usr/local/bin/payments"]
