# The ferry-server image. docs/operations.md says how to build and run it.
#
#   docker build -t ferry-server .                      # compiles in a Rust image (the default)
#   docker build --target prebuilt -t ferry-server .    # takes target/release/ferry-server
#                                                       # built on the host (same Debian)
#
# Stage order matters: Docker's legacy builder (no BuildKit) builds every stage before the
# target, so `prebuilt` comes before `build` and never needs the Rust image; the default
# target, `runtime`, is last.

# The runtime base. Give a locally made image where no registry is reachable
# (--build-arg BASE=local/debian:bookworm, see scripts/containers.sh).
ARG BASE=debian:bookworm-slim
# The build stage's image; its Debian release must match BASE's (glibc).
ARG RUST_IMAGE=rust:1.95-slim-bookworm

FROM ${BASE} AS runtime-base
ARG BASE
# tini is PID 1: it forwards SIGTERM to the server (a bare PID 1 ignores signals it does
# not handle) and reaps zombies. ca-certificates for TLS to Postgres or NATS.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --system --gid 10001 ferry \
    && useradd --system --uid 10001 --gid ferry --home-dir /data --no-create-home --shell /usr/sbin/nologin ferry \
    && mkdir -p /data /files \
    && chown ferry:ferry /data /files
# After the packages, so that a new version or commit does not install them again.
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ferry-server" \
      org.opencontainers.image.description="Ferry chat server: REST and WebSocket on Postgres or embedded SQLite" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.documentation="docs/operations.md" \
      org.opencontainers.image.base.name="${BASE}"
# Every setting is a FERRY_* variable (or DATABASE_URL); see docs/operations.md. Inside a
# container the server must listen on every address; the embedded SQLite database and a
# generated JWT secret go to the /data volume.
ENV FERRY_BIND=0.0.0.0:8080 \
    FERRY_DATA_DIR=/data
VOLUME ["/data"]
WORKDIR /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["sh", "-c", "exec http-ok.sh \"$FERRY_BIND\" /readyz"]
# The server stops on SIGTERM: it stops accepting, closes every socket with 1001 and lets
# in-flight requests finish (at most a few seconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["ferry-server"]

# A ferry-server built outside any image (cargo build --release --locked -p ferry-server on
# the same Debian release). FERRY_PREBUILT is its path inside the build context.
FROM runtime-base AS prebuilt
ARG FERRY_PREBUILT=target/release/ferry-server
# The health check's script comes with it; as it always exists, this COPY succeeds without
# a binary too: a plain build passes through this stage as well (see the top) and must
# not fail here.
COPY deploy/http-ok.sh ${FERRY_PREBUILT}* /usr/local/bin/
RUN test -x /usr/local/bin/ferry-server \
    || echo "note: no ${FERRY_PREBUILT} in the build context; this stage has no server"
USER 10001:10001

# Compiles the server from this checkout.
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ferry-server \
    && cp target/release/ferry-server /usr/local/bin/ferry-server

# The default target: the runtime base with the server compiled above.
FROM runtime-base AS runtime
COPY deploy/http-ok.sh /usr/local/bin/
COPY --from=build /usr/local/bin/ferry-server /usr/local/bin/ferry-server
USER 10001:10001
