#!/bin/sh
# Entrypoint of the Tracefleet controller image (infra/images/controller.Dockerfile).
#   serve (default)   node main.js (V8 old space 384 MiB, semi-spaces 32 MiB: apps/controller/src/config/node-flags.ts): the REST API, console, gRPC and enrollment listeners
#   migrate [ARGS]    prisma migrate deploy against DATABASE_URL (through infra/prisma-offline: no download)
#   prisma ARGS       any other prisma CLI command, e.g. `prisma migrate status`
#   anything else     run as a command (e.g. `sh`)
set -e
cd /opt/tracefleet/controller
cmd="${1:-serve}"
[ $# -gt 0 ] && shift
case "$cmd" in
  serve) exec node --max-old-space-size=384 --max-semi-space-size=32 main.js "$@" ;;
  migrate) exec node infra/prisma-offline/prisma.mjs migrate deploy --config apps/controller/prisma.config.ts "$@" ;;
  prisma) exec node infra/prisma-offline/prisma.mjs "$@" ;;
  *) exec "$cmd" "$@" ;;
esac
