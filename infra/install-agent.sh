#!/usr/bin/env bash
# Installs the Tracefleet agent, and only the agent, on a Linux host (Debian 12 or alike, BTF kernel):
# the bundle `node infra/bundle.mjs agent --tar tracefleet-agent.tar.gz` makes (the agent, its native addon
# and BPF objects, a Node.js runtime), the shared libraries the addon links that the host lacks (from apt),
# /etc/tracefleet/agent.env (0600) with the controller addresses and enrollment material, and the systemd
# unit, which it enables and starts. Where systemd is not running (a container, a test namespace),
# --foreground runs the agent in this process instead. Re-running it upgrades in place; the node's
# enrolled key and certificate in /var/lib/tracefleet/agent are kept.
#
#   infra/install-agent.sh --bundle tracefleet-agent.tar.gz --ca-cert ca.pem \
#       --controller ctl-1:50051,ctl-2:50051 --enroll ctl-1:50052,ctl-2:50052 \
#       --token-file /run/secrets/tracefleet-token [--node-name web-1] [--labels env=prod,zone=a] \
#       [--metrics-addr 127.0.0.1:9464] [--no-start | --foreground] [--no-packages]
#
# The enrollment token is read from --token-file or TRACEFLEET_ENROLLMENT_TOKEN, never from the command
# line (where `ps` shows it). See README.md, "Running on a fleet".
set -euo pipefail

say() { printf '\033[1m[install-agent]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[install-agent]\033[0m %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-1}"; }

bundle='' ca='' controllers='' enroll='' token_file='' node_name='' labels='' metrics='' mode=systemd packages=1
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=${2-}; shift 2 ;;
    --ca-cert) ca=${2-}; shift 2 ;;
    --controller) controllers=${2-}; shift 2 ;;
    --enroll) enroll=${2-}; shift 2 ;;
    --token-file) token_file=${2-}; shift 2 ;;
    --node-name) node_name=${2-}; shift 2 ;;
    --labels) labels=${2-}; shift 2 ;;
    --metrics-addr) metrics=${2-}; shift 2 ;;
    --no-start) mode=none; shift ;;
    --foreground) mode=foreground; shift ;;
    --no-packages) packages=0; shift ;;
    -h|--help) usage 0 ;;
    *) die "unknown option $1 (--help lists them)" ;;
  esac
done

# Paths: fixed, the units name them. Tests relocate them with a mount namespace, not with options.
OPT=/opt/tracefleet ETC=/etc/tracefleet STATE=/var/lib/tracefleet/agent UNIT_DIR=/etc/systemd/system

[ "$(id -u)" -eq 0 ] || die "run as root: the agent loads BPF programs and the installer writes $OPT and $ETC"
[ -n "$bundle" ] && [ -f "$bundle" ] || die "--bundle FILE.tar.gz is required (make one with: node infra/bundle.mjs agent --tar tracefleet-agent.tar.gz)"
[ -n "$ca" ] && [ -f "$ca" ] || die "--ca-cert FILE is required: the fleet CA certificate (the only issuer of controller certificates the agent accepts)"
grep -q 'BEGIN CERTIFICATE' "$ca" || die "--ca-cert $ca is not a PEM certificate"
grep -q 'PRIVATE KEY' "$ca" && die "--ca-cert $ca holds a private key: give the agent the CA certificate only"

# Every value ends up in an environment file: nothing that could start another line or a quote.
addr_list='^[A-Za-z0-9._-]+:[0-9]{1,5}(,[A-Za-z0-9._-]+:[0-9]{1,5})*$'
[[ "$controllers" =~ $addr_list ]] || die "--controller must be host:port[,host:port...] (the controllers' gRPC addresses), got '${controllers//[^[:print:]]/?}'"
[[ "$enroll" =~ $addr_list ]] || die "--enroll must be host:port[,host:port...] (the controllers' enrollment addresses), got '${enroll//[^[:print:]]/?}'"
if [ -n "$node_name" ] && ! [[ "$node_name" =~ ^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$ ]]; then die "--node-name must be letters, digits, . _ - (at most 63)"; fi
if [ -n "$labels" ] && ! [[ "$labels" =~ ^[A-Za-z0-9._/=,-]{1,1024}$ ]]; then die "--labels must be key=value[,key=value] of letters, digits, . _ / -"; fi
if [ -n "$metrics" ] && ! [[ "$metrics" =~ ^[A-Za-z0-9.:_-]+:[0-9]{1,5}$ ]]; then die "--metrics-addr must be host:port"; fi

token=${TRACEFLEET_ENROLLMENT_TOKEN-}
if [ -n "$token_file" ]; then
  [ -f "$token_file" ] || die "--token-file $token_file does not exist"
  # One line; a trailing newline (and a CR from another OS) is not part of the token.
  token=$(head -c 4096 "$token_file")
  token=${token%$'\r'}
fi
if [ -z "$token" ] && ! [ -s "$STATE/node.crt" ]; then
  die "no enrollment token: give --token-file FILE (or TRACEFLEET_ENROLLMENT_TOKEN); one comes from POST /api/v1/enrollment-tokens"
fi
if [ -n "$token" ] && ! [[ "$token" =~ ^[A-Za-z0-9._~+/=-]{16,512}$ ]]; then die "the enrollment token has characters a token does not have"; fi

[ -e /sys/kernel/btf/vmlinux ] || die "this kernel has no BTF (/sys/kernel/btf/vmlinux): the agent's CO-RE programs cannot load here"

# --- the bundle ----------------------------------------------------------------------------------------------
say "unpacking $bundle into $OPT"
mkdir -p "$OPT"
staging=$(mktemp -d "$OPT/.install-XXXXXX")
trap 'rm -rf "$staging"' EXIT
tar -xzf "$bundle" -C "$staging" --no-same-owner
[ -f "$staging/agent/main.js" ] && [ -f "$staging/agent/BUNDLE.json" ] || die "$bundle is not an agent bundle (no agent/main.js, agent/BUNDLE.json)"
grep -q '"component": "agent"' "$staging/agent/BUNDLE.json" || die "$bundle is a bundle of another component: $(tr -d '\n' < "$staging/agent/BUNDLE.json")"
[ -x "$staging/node/bin/node" ] || die "$bundle has no Node.js runtime (node/bin/node): make it without --no-node"
for part in agent node; do
  rm -rf "$OPT/$part.old"
  [ -e "$OPT/$part" ] && mv "$OPT/$part" "$OPT/$part.old"
  mv "$staging/$part" "$OPT/$part"
done
rm -rf "$OPT/agent.old" "$OPT/node.old"
chown -R root:root "$OPT/agent" "$OPT/node"
chmod -R go-w "$OPT/agent" "$OPT/node"

# --- shared libraries the addon links ----------------------------------------------------------------------
addon=$(find "$OPT/agent" -name 'tracefleet_native.node' -path '*Release*' | head -n1)
[ -n "$addon" ] || die "the bundle has no native addon"
missing=$(ldd "$addon" | awk '/not found/ {print $1}')
if [ -n "$missing" ]; then
  [ "$packages" -eq 1 ] || die "the addon needs libraries this host lacks ($(echo $missing)); run without --no-packages or install them"
  command -v apt-get >/dev/null || die "the addon needs $(echo $missing) and this host has no apt-get: install libbpf1 libelf1 libdw1 libdebuginfod1 zlib1g"
  say "installing the agent's libraries (missing: $(echo $missing))"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libbpf1 libelf1 libdw1 libdebuginfod1 zlib1g
  still=$(ldd "$addon" | awk '/not found/ {print $1}')
  [ -z "$still" ] || die "still missing after apt-get: $still"
fi
"$OPT/node/bin/node" -e "require('$OPT/agent/node_modules/@tracefleet/native').loadAddon()" \
  || die "the native addon does not load on this host (above: why)"

# --- configuration -----------------------------------------------------------------------------------------------
install -d -m 0700 "$STATE"
install -d -m 0755 "$ETC" "$ETC/pki"
install -m 0644 "$ca" "$ETC/pki/ca.pem"
env_file="$ETC/agent.env"
tmp_env=$(mktemp "$ETC/.agent.env.XXXXXX")
chmod 0600 "$tmp_env"
{
  echo "# Written by install-agent.sh on $(date -u +%FT%TZ); the unit tracefleet-agent.service reads it."
  echo "TRACEFLEET_CONTROLLER_GRPC=$controllers"
  echo "TRACEFLEET_ENROLL_ADDR=$enroll"
  echo "TRACEFLEET_CA_CERT=$ETC/pki/ca.pem"
  echo "TRACEFLEET_AGENT_STATE_DIR=$STATE"
  [ -n "$token" ] && echo "TRACEFLEET_ENROLLMENT_TOKEN=$token"
  [ -n "$node_name" ] && echo "TRACEFLEET_NODE_NAME=$node_name"
  [ -n "$labels" ] && echo "TRACEFLEET_NODE_LABELS=$labels"
  [ -n "$metrics" ] && echo "TRACEFLEET_AGENT_METRICS_ADDR=$metrics"
  echo "MALLOC_ARENA_MAX=2"
} > "$tmp_env"
mv "$tmp_env" "$env_file"
say "wrote $env_file (0600)"

# --- start ----------------------------------------------------------------------------------------------------
unit_src="$OPT/agent/infra/systemd/tracefleet-agent.service"
case "$mode" in
  none)
    say "installed; not started (--no-start)"
    ;;
  foreground)
    say "starting the agent in the foreground (no systemd): $OPT/node/bin/node $OPT/agent/main.js"
    trap - EXIT
    rm -rf "$staging"
    set -a
    # shellcheck disable=SC1090 # written above from checked values
    . "$env_file"
    set +a
    # The V8 flags of the systemd unit's ExecStart (apps/node-agent/src/node-flags.ts).
    exec "$OPT/node/bin/node" --max-semi-space-size=1 "$OPT/agent/main.js"
    ;;
  systemd)
    [ -f "$unit_src" ] || die "the bundle has no systemd unit ($unit_src)"
    [ -d /run/systemd/system ] || die "systemd is not running on this host: start the agent with --foreground (or your own supervisor: $OPT/node/bin/node $OPT/agent/main.js with $env_file)"
    install -m 0644 "$unit_src" "$UNIT_DIR/tracefleet-agent.service"
    systemctl daemon-reload
    systemctl enable tracefleet-agent.service
    systemctl restart tracefleet-agent.service
    say "started tracefleet-agent.service; follow it with: journalctl -u tracefleet-agent -f"
    ;;
esac
