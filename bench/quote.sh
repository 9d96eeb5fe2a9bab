#!/usr/bin/env bash
# Four real `dds serve` processes on loopback, one network: N uploads of a small file to node 0, each
# answered 402 with a price confirmed and signed by 3 peers. Prints the p50, p90 and p99 of the upload's
# time as curl measures it (kept-alive connection, no process start in the figure).
# Usage: bench/quote.sh [N]   (default 300); DDS=path/to/dds runs that binary instead of building one
# (to compare two builds in one sitting). Needs curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
if [ -n "${DDS:-}" ]; then cp "$DDS" "$work/dds"; else go build -o "$work/dds" ./cmd/dds; fi
base=$((20000 + RANDOM % 20000))
url() { echo "http://127.0.0.1:$((base + $1))"; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 0 1 2 3; do
  peer=()
  [ "$i" -gt 0 ] && peer=(--peer "$(url 0)")
  "$work/dds" serve --data "$work/n$i" --listen "127.0.0.1:$((base + i))" "${peer[@]}" --log-level warn 2>"$work/n$i.log" &
  pids+=($!)
  disown # no job-control notice when it is killed
  for _ in $(seq 100); do curl -sf "$(url "$i")/healthz" >/dev/null && break; sleep 0.05; done
done
admin() { cat "$work/n$1/admin.token"; }
alive() { curl -sf -H "Authorization: Bearer $(admin 0)" "$(url 0)/network" | jq '[.data[].attributes | select(.state=="alive")] | length'; }
for _ in $(seq 200); do [ "$(alive)" = 4 ] && break; sleep 0.1; done
user=$("$work/dds" token create --data "$work/n0" --role user | tail -1)
body='{"data":{"type":"file","attributes":{"name":"q.txt","data":"'$(printf 'a small file' | base64)'"}}}'
printf '%s' "$body" >"$work/body.json"
# One curl, n requests on one kept-alive connection; the first warms it up and is not counted.
args=()
for _ in $(seq $((n + 1))); do
  args+=(-s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $user"
    -H 'Content-Type: application/vnd.api+json' --data-binary "@$work/body.json" "$(url 0)/files" --next)
done
curl "${args[@]}" -s -o /dev/null "$(url 0)/healthz" >"$work/times"
if grep -qv '^402 ' <(head -n $((n + 1)) "$work/times"); then
  echo "some uploads were not answered 402:"; sort "$work/times" | uniq -c | sort -rn | head -5; exit 1
fi
head -n $((n + 1)) "$work/times" | tail -n "$n" | awk '{print $2 * 1000}' | sort -n >"$work/ms"
pct() { awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p/100); if (i<1) i=1; printf "%.2f", a[i]}' "$work/ms"; }
printf 'quote with 3 peer confirmations, %d uploads: p50 %s ms, p90 %s ms, p99 %s ms\n' "$n" "$(pct 50)" "$(pct 90)" "$(pct 99)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
