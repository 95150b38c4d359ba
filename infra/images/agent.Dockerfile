# Tracefleet node agent image. Build context: a directory made by `node infra/bundle.mjs agent --out DIR`
# (DIR/node/, DIR/agent/); infra/images/build.mjs makes it and builds. BASE: a Debian 12 (bookworm) image,
# e.g. the offline-made minbase one build.mjs imports, or debian:bookworm-slim where a registry is reachable.
# The agent loads eBPF programs: it runs as root with BPF capabilities and the host's pid namespace
# (see infra/images/README.md for the docker run / pod settings).
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# What the native addon links (libbpf 1.1, libelf, libdw/libdwfl, libdebuginfod, zlib), ca-certificates.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libbpf1 libelf1 libdw1 libdebuginfod1 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && mkdir -p -m 0700 /var/lib/tracefleet/agent

COPY node /opt/tracefleet/node
COPY agent /opt/tracefleet/agent

ENV PATH=/opt/tracefleet/node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_ENV=production \
    TRACEFLEET_AGENT_STATE_DIR=/var/lib/tracefleet/agent \
    MALLOC_ARENA_MAX=2
# The node's key and certificate (and the result spool) live here: mount a volume or a host directory so a
# restarted container keeps its identity and needs no new enrollment token.
VOLUME /var/lib/tracefleet/agent
WORKDIR /opt/tracefleet/agent
# Root: it must load BPF programs and read other processes' memory (through capabilities, not --privileged).
USER 0:0
# V8 flags: apps/node-agent/src/node-flags.ts.
ENTRYPOINT ["node", "--max-semi-space-size=1", "main.js"]

# Last, so a new version reuses every layer above that did not change.
ARG VERSION=unknown
ARG COMMIT=unknown
ARG BUNDLE_HASH=unknown
LABEL org.opencontainers.image.title="Tracefleet node agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      io.tracefleet.component="agent" \
      io.tracefleet.bundle-hash="${BUNDLE_HASH}"
