# Tracefleet controller image. Build context: a directory made by `node infra/bundle.mjs controller --out DIR`
# (DIR/node/, DIR/controller/) plus infra/images/controller-entrypoint.sh copied to DIR/entrypoint.sh;
# infra/images/build.mjs makes it and builds. BASE: a Debian 12 (bookworm) image, e.g. the offline-made
# minbase one build.mjs imports, or debian:bookworm-slim where a registry is reachable.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# Runtime libraries only: Node is the bundle's (DIR/node/bin/node, statically linked with OpenSSL);
# ca-certificates for TLS to PostgreSQL/Redis that use public CAs.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && echo 'tracefleet:x:10001:10001:Tracefleet controller:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'tracefleet:x:10001:' >> /etc/group

# Root-owned and read-only to the service user: the code cannot be changed by the process that runs it.
COPY node /opt/tracefleet/node
COPY controller /opt/tracefleet/controller
COPY entrypoint.sh /opt/tracefleet/bin/tracefleet-controller
RUN chmod 0755 /opt/tracefleet/bin/tracefleet-controller

ENV PATH=/opt/tracefleet/node/bin:/opt/tracefleet/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_ENV=production \
    HOME=/tmp \
    HOST=0.0.0.0 \
    PORT=8080 \
    TRACEFLEET_GRPC_ADDR=0.0.0.0:50051 \
    TRACEFLEET_ENROLL_ADDR=0.0.0.0:50052
# REST API and console, agent gRPC (mutual TLS), enrollment (server-only TLS, bootstrap tokens).
EXPOSE 8080 50051 50052
USER 10001:10001
WORKDIR /opt/tracefleet/controller
# `docker run IMAGE` serves (node main.js); `docker run IMAGE migrate` applies the migrations to DATABASE_URL.
ENTRYPOINT ["/opt/tracefleet/bin/tracefleet-controller"]
CMD ["serve"]

# Last, so a new version reuses every layer above that did not change.
ARG VERSION=unknown
ARG COMMIT=unknown
ARG BUNDLE_HASH=unknown
LABEL org.opencontainers.image.title="Tracefleet controller" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      io.tracefleet.component="controller" \
      io.tracefleet.bundle-hash="${BUNDLE_HASH}"
