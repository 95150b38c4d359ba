#!/usr/bin/env bash
# What the uprobe traps alone cost on this machine, per malloc/free pair, with no BPF program:
# tracefs uprobe events (recording off) on glibc's malloc and free, placed where memleak places
# its probes and where it could place them, timed on bench/workloads/malloc_free.c.
#
# This explains why memleak's ratio to bpftrace moves between machines: the emulated traps our
# probes use and the single-stepped one bpftrace's `free` probe uses do not get cheaper or dearer
# together from one VM to the next.
#
# Usage (root): bash bench/uprobe-traps.sh [--brief] [pairs]
# The whole table is a diagnostic, not part of `npm run bench`: tracefs uprobes fire in every
# process that runs this libc's malloc/free while it measures, so run it on a quiet machine.
# --brief: only the cost of one emulated and one single-stepped trap, as two lines "emulated NS" and
# "single-stepped NS" (ns per trap, the untraced pair subtracted): the uprobe benches print them.
set -euo pipefail
BRIEF=0
if [ "${1:-}" = --brief ]; then BRIEF=1; shift; fi
PAIRS=${1:-300000}
LIBC=/lib/x86_64-linux-gnu/libc.so.6
T=/sys/kernel/tracing
MOUNTED=0
# tracefs is not always mounted: mount it for the measure, and take it out again after.
if [ ! -e "$T/uprobe_events" ] && mount -t tracefs nodev "$T" 2>/dev/null; then MOUNTED=1; fi
[ -w "$T/uprobe_events" ] || T=/sys/kernel/debug/tracing
[ -w "$T/uprobe_events" ] || { echo "uprobe-traps: no writable tracefs uprobe_events (root, tracefs mounted?)" >&2; exit 1; }
WORK=$(mktemp -d)
TRACING_ON=$(cat "$T/tracing_on")
# Only this script's events (group tftrap) are removed: other uprobe events on the machine stay.
drop_ours() {
  if [ -d "$T/events/tftrap" ]; then echo 0 > "$T/events/tftrap/enable"; fi
  local d
  for d in $(grep -o '^[pr]:tftrap/[^ ]*' "$T/uprobe_events" || true); do echo "-:${d#?:}" >> "$T/uprobe_events"; done
}
cleanup() {
  drop_ours 2>/dev/null || true
  echo "$TRACING_ON" > "$T/tracing_on"
  rm -rf "$WORK"
  if [ "$MOUNTED" = 1 ]; then umount /sys/kernel/tracing || true; fi
}
trap cleanup EXIT

gcc -O2 -fno-omit-frame-pointer -o "$WORK/mf" "$(dirname "$0")/workloads/malloc_free.c"
# uprobes take file offsets; symbols give addresses: the executable LOAD segment maps one to the other
read -r SEG_OFF SEG_VADDR < <(readelf -lW "$LIBC" | awk '$1=="LOAD" && / E / && !found {print $2, $3; found=1}')
sym() { objdump -T "$LIBC" | awk -v s="$1" '$NF==s && $4==".text" && !found {print "0x"$1; found=1}'; }
to_off() { printf '0x%x' $(($1 - SEG_VADDR + SEG_OFF)); }
MALLOC_VA=$(sym malloc)
FREE_VA=$(sym free)
[ -n "$MALLOC_VA" ] && [ -n "$FREE_VA" ] || { echo "uprobe-traps: malloc/free not found in $LIBC" >&2; exit 1; }
MALLOC=$(to_off "$MALLOC_VA")
FREE=$(to_off "$FREE_VA")
insn() { objdump -d --start-address=$(($1)) --stop-address=$(($1 + 16)) "$LIBC" | awk -F'\t' '/^ +[0-9a-f]+:/ && !found {print $3; found=1}'; }

# free+3: the `je` after `test %rdi,%rdi` where memleak places free's probe (placement.ts proves it).
FREE3=$(printf '0x%x' $((FREE + 3)))
FREE3_INSN=$(insn $((FREE_VA + 3)))
[[ "$FREE3_INSN" == je* ]] || { echo "uprobe-traps: free+3 is \`$FREE3_INSN\` in $LIBC, not the je of glibc 2.36; memleak places free's probe elsewhere here" >&2; exit 1; }
# A return site of malloc (an emulated jcc every tcache hit crosses with %rax final): +343 in
# Debian 12's glibc 2.36. Checked here; another build skips that row.
SITE=$(printf '0x%x' $((MALLOC + 343)))
SITE_INSN=$(insn $((MALLOC_VA + 343)))

time_pairs() { # label probe-definitions...
  local label=$1; shift
  for d in "$@"; do echo "$d" >> "$T/uprobe_events"; done
  [ $# -gt 0 ] && echo 1 > "$T/events/tftrap/enable"
  local runs=()
  for _ in 1 2 3; do
    rm -f "$WORK/go"
    "$WORK/mf" "$PAIRS" "$WORK/go" > "$WORK/out" & local pid=$!
    sleep 0.2; touch "$WORK/go"; wait $pid
    runs+=("$(cat "$WORK/out")")
  done
  drop_ours
  local median; median=$(printf '%s\n' "${runs[@]}" | sort -g | sed -n 2p)
  printf '| %s | %s | %s |\n' "$label" "$median" "${runs[*]}"
}

echo 0 > "$T/tracing_on" # events fire but nothing is recorded: the trap and its dispatch only
if [ "$BRIEF" = 1 ]; then
  ns() { time_pairs x "$@" | awk -F'|' '{gsub(/ /, "", $3); print $3}'; }
  NONE=$(ns)
  EMULATED=$(ns "p:tftrap/f $LIBC:$FREE3")
  STEPPED=$(ns "p:tftrap/f0 $LIBC:$FREE")
  echo "emulated $(awk -v a="$EMULATED" -v b="$NONE" 'BEGIN { printf "%.0f", a - b }')"
  echo "single-stepped $(awk -v a="$STEPPED" -v b="$NONE" 'BEGIN { printf "%.0f", a - b }')"
  exit 0
fi
echo "uprobe traps on $(uname -r), $LIBC, $PAIRS pairs (ns per malloc/free pair: median of 3 runs, and the runs)"
echo "| probes | ns per pair | runs |"
echo "|---|---|---|"
time_pairs "none"
time_pairs "malloc entry (uprobe)" "p:tftrap/m $LIBC:$MALLOC"
time_pairs "malloc entry + uretprobe (memleak's malloc today)" "p:tftrap/m $LIBC:$MALLOC" "r:tftrap/mr $LIBC:$MALLOC"
time_pairs "free+3 (memleak's free)" "p:tftrap/f $LIBC:$FREE3"
time_pairs "free+0 (bpftrace's free, single-stepped)" "p:tftrap/f0 $LIBC:$FREE"
time_pairs "memleak's three: malloc entry + uretprobe, free+3" "p:tftrap/m $LIBC:$MALLOC" "r:tftrap/mr $LIBC:$MALLOC" "p:tftrap/f $LIBC:$FREE3"
if [[ "$SITE_INSN" == jne* ]]; then
  time_pairs "malloc+343 return site ($SITE_INSN) + free+3, no entry probe" "p:tftrap/s $LIBC:$SITE" "p:tftrap/f $LIBC:$FREE3"
  time_pairs "malloc entry + malloc+343 return site + free+3" "p:tftrap/m $LIBC:$MALLOC" "p:tftrap/s $LIBC:$SITE" "p:tftrap/f $LIBC:$FREE3"
else
  echo "(malloc+343 is \`$SITE_INSN\` in this libc, not the jne of glibc 2.36: return-site rows skipped)"
fi
