# iris-cli in a small image, for the scale-out Job in deploy/k8s (README: "Scale-out on
# Kubernetes"):
#   docker build -t ghcr.io/YOU/iris-cli:0.1.0 .
#   docker run --rm ghcr.io/YOU/iris-cli:0.1.0 bench --local --rps 50 --duration 5s
#
# Build stage: the toolchain the crate pins (rust-version), the locked dependency set.
# rust:*-slim carries gcc and libc6-dev (aws-lc-sys compiles C) and ca-certificates.
ARG RUST_VERSION=1.94.1
FROM rust:${RUST_VERSION}-slim-trixie AS build
WORKDIR /src
# Only what the build reads (.dockerignore keeps target/ and the rest out of the context).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY payloads/model ./payloads/model
# Not stripped: the release profile keeps line tables for readable panic backtraces.
RUN cargo build --locked --release

# Run stage: Debian slim (glibc, as built), the CA bundle for TLS to AWS (rustls reads the
# system roots), a non-root user with a home for ~/.aws, iris-cli as the entrypoint.
FROM debian:trixie-slim
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/iris iris
COPY --from=build /src/target/release/iris-cli /usr/local/bin/iris-cli
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /home/iris
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["iris-cli"]
CMD ["--help"]
