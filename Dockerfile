# syntax=docker/dockerfile:1
# Build: docker build -t tolmach .
# Run:   docker run --rm -e TELEGRAM_BOT_TOKEN=... -v tolmach-data:/var/lib/tolmach -p 127.0.0.1:9464:9464 tolmach
#        docker run --rm -i tolmach                  (console platform on stdin, offline demo provider)
# Compose and Kubernetes files: deploy/; operating it: docs/operations.md.
#
# Base images are pinned by exact tag. Tags move (security rebuilds), so production builds should
# also pin the digest, resolved in your own registry or mirror with
#   docker buildx imagetools inspect rust:1.95.0-slim-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/cc-debian12:nonroot
# and written as `FROM rust:1.95.0-slim-bookworm@sha256:<digest>`. (The digests are not written
# here because they cannot be resolved where this file was written.)

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src

# Dependencies first, so that source edits do not rebuild them. Cargo refuses a manifest whose
# declared targets have no source file, so placeholders are generated for every target that
# Cargo.toml and testkit/Cargo.toml declare (every [[bin]] and [[bench]], also [[test]] and
# [[example]]) and for the library roots: a new target needs no change here. A new workspace
# member needs its Cargo.toml copied below and added to both cargo-stubs calls; a build script
# (build.rs) needs an explicit COPY (see deploy/docker/cargo-stubs.sh).
COPY deploy/docker/cargo-stubs.sh /usr/local/bin/cargo-stubs
COPY Cargo.toml Cargo.lock ./
COPY testkit/Cargo.toml testkit/Cargo.toml
COPY loadtest/Cargo.toml loadtest/Cargo.toml
# The patched whatlang (ADR 0018) and ractor (ADR 0020) are dependencies: built in this layer.
COPY vendor vendor
RUN sh /usr/local/bin/cargo-stubs Cargo.toml testkit/Cargo.toml loadtest/Cargo.toml \
    && cargo build --release --locked --bin tolmach \
    && rm -rf src

# The real sources. Only what the binary is built from: src/ and config/ (config/default.toml is
# compiled in). The placeholders for benches and the test kit stay: `--bin tolmach` builds
# none of them, so editing them does not invalidate this layer. The second cargo-stubs call only fills
# in declared targets the build context leaves out (.dockerignore drops tests/ and docs/).
COPY src src
COPY config config
RUN sh /usr/local/bin/cargo-stubs Cargo.toml testkit/Cargo.toml loadtest/Cargo.toml \
    && touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin tolmach \
    && mkdir -p /out/data

# Only the binary and its configuration: no shell, no package manager, non-root (uid 65532).
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="tolmach" \
      org.opencontainers.image.description="Actor-model chat-bot runtime: Telegram, Discord, translation providers" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /src/target/release/tolmach /usr/local/bin/tolmach
# Reference copy of the built-in defaults; the binary does not read it. Mount your own file at
# /etc/tolmach/tolmach.toml and set TOLMACH_CONFIG to it.
COPY --from=build /src/config /etc/tolmach
# The data directory belongs to the runtime user, so a fresh named volume mounted here inherits
# that ownership (Docker copies it from the image). Kubernetes: set fsGroup 65532.
COPY --from=build --chown=65532:65532 /out/data /var/lib/tolmach
ENV TOLMACH_METRICS_ADDR=0.0.0.0:9464 \
    TOLMACH_LOG_FORMAT=json \
    TOLMACH_DATA_DIR=/var/lib/tolmach
WORKDIR /var/lib/tolmach
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# SQLite state (delivery ledger, Telegram offsets, user settings and history). One container per
# volume: never run two replicas on the same data directory.
VOLUME ["/var/lib/tolmach"]
# Metrics, /healthz and /readyz. The admin API (TOLMACH_ADMIN_ADDR, default 127.0.0.1:9465) is
# deliberately not exposed.
EXPOSE 9464
# No shell or curl in this image: the binary checks itself (GET http://127.0.0.1:9464/healthz;
# pass --url if TOLMACH_METRICS_ADDR uses another port).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/tolmach", "healthcheck"]
# Graceful shutdown on SIGTERM takes up to runtime.shutdown_grace (10 s): give `docker stop` more
# (docker stop -t 30; compose: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tolmach"]
