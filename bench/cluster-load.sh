#!/usr/bin/env bash
# `bench/cluster-load.sh single|cluster [npm run load options]`: starts one node (no Redis) or three
# nodes of a cluster on the machine's Redis (127.0.0.1:6379, a fresh key prefix) on 127.0.0.1:18081-18083,
# runs `npm run load` against all of them (one URL per node), prints each node's CPU seconds used
# during the run and, for the cluster, how many messages were bridged; then stops the nodes.
# Example (BENCHMARKS.md, "Cluster"): bench/cluster-load.sh cluster --rooms 30 --members 4 --duration 15 --rate 5
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
MODE=${1:-}; shift || true
case "$MODE" in single) N=1 ;; cluster) N=3 ;; *) echo "usage: $0 single|cluster [load options]" >&2; exit 2 ;; esac
PREFIX="wrs-load:$$:"
PIDS=(); URLS=()
for i in $(seq 1 "$N"); do
  PORT=$((18080 + i))
  EXTRA=()
  [ "$MODE" = cluster ] && EXTRA=(REDIS_URL=redis://127.0.0.1:6379 "CLUSTER_KEY_PREFIX=$PREFIX" "NODE_ID=load-$i")
  env -i PATH="$PATH" HOME=/tmp NODE_ENV=test PORT_NUMBER=$PORT BIND_ADDRESS=127.0.0.1 LOG_LEVEL=warn \
    LOG_PRETTY=false ROOM_MODE=mcu PUBLIC_IPV4=127.0.0.1 ROOM_LIVE_INTERVAL_MS=0 MAX_CONNECTIONS_PER_IP=1000 \
    "${EXTRA[@]}" node src/main.ts >"/tmp/cluster-load-node-$i.log" 2>&1 &
  PIDS+=($!)
  URLS+=("ws://127.0.0.1:$PORT/api")
done
for i in $(seq 1 "$N"); do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((18080 + i))/healthz" >/dev/null && break; sleep 0.1; done
done
sleep 2
cpu() { for p in "${PIDS[@]}"; do awk '{printf "%.2f\n", ($14 + $15) / 100}' "/proc/$p/stat"; done | paste -sd' '; }
BEFORE=$(cpu)
npm run --silent load -- --url "$(IFS=,; echo "${URLS[*]}")" "$@"
RC=$?
echo "cpu seconds per node: before the load $BEFORE, after $(cpu)"
if [ "$MODE" = cluster ]; then
  for i in $(seq 1 "$N"); do
    curl -s "http://127.0.0.1:$((18080 + i))/metrics" | grep '^webrtcsignaling_cluster_bridged_frames_total' | sed "s/^/node $i: /"
  done
fi
kill -TERM "${PIDS[@]}"
wait
[ "$MODE" = cluster ] && redis-cli --scan --pattern "$PREFIX*" | xargs -r redis-cli del >/dev/null
exit $RC
