# syntax=docker/dockerfile:1
# Build: docker build -t tolmach .
# Run:   docker run --rm -i -p 9464:9464 tolmach        (console platform on stdin)

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY testkit/Cargo.toml testkit/Cargo.toml
RUN mkdir -p src benches testkit/src/bin \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > benches/spine.rs && echo 'fn main() {}' > benches/telegram.rs \
    && echo 'fn main() {}' > benches/discord.rs && echo 'fn main() {}' > benches/resilience.rs \
    && touch testkit/src/lib.rs && echo 'fn main() {}' > testkit/src/bin/fake-provider.rs \
    && cargo build --release --locked --bin tolmach \
    && rm -rf src benches testkit/src
COPY src src
COPY config config
COPY benches benches
COPY testkit/src testkit/src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin tolmach

# Only the binary and its configuration: no shell, no package manager, non-root (uid 65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/tolmach /usr/local/bin/tolmach
COPY --from=build /src/config /etc/tolmach
ENV TOLMACH_METRICS_ADDR=0.0.0.0:9464 \
    TOLMACH_LOG_FORMAT=json \
    TOLMACH_RUNTIME_DATA_DIR=/var/lib/tolmach
WORKDIR /var/lib/tolmach
USER nonroot:nonroot
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/tolmach"]
