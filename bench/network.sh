#!/usr/bin/env bash
# Five real `dds serve` processes on loopback, one network. Uploads and pays a file through node 0, then:
#   - reads it through every node (a holder serves from disk, the others stream from a holder) and
#     compares the throughput of a proxied GET with a local one;
#   - kill -9 of node 0 (the node that took the upload), never restarted: how long until the others
#     show it gone, and until the file has 3 stored copies on live nodes again (--repair-after 3s);
#   - flips one byte of a holder's stored copy: how long until an audit finds it and the copy is
#     replaced (--audit-every 2s).
# Usage: bench/network.sh [SIZE_MIB]   (default 64). Needs curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-64}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap "for p in \"\${pids[@]}\"; do kill -9 \$p 2>/dev/null; done" EXIT
go build -o "$work/dds" ./cmd/dds
base=$((20000 + RANDOM % 20000))
url() { echo "http://127.0.0.1:$((base + $1))"; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 0 1 2 3 4; do
  peer=()
  [ "$i" -gt 0 ] && peer=(--peer "$(url 0)")
  "$work/dds" serve --data "$work/n$i" --listen "127.0.0.1:$((base + i))" "${peer[@]}" \
    --repair-after 3s --replicate-every 1s --audit-every 2s --max-file-size $((size_mib << 21)) \
    --log-level warn 2>"$work/n$i.log" &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "$(url "$i")/healthz" >/dev/null && break; sleep 0.05; done
done
admin() { cat "$work/n$1/admin.token"; }
members_alive() { curl -sf -H "Authorization: Bearer $(admin "$1")" "$(url "$1")/network" | jq '[.data[].attributes | select(.state=="alive")] | length'; }
for _ in $(seq 200); do [ "$(members_alive 4)" = 5 ] && break; sleep 0.1; done

user=$("$work/dds" token create --data "$work/n0" --role user | tail -1)
payer=$("$work/dds" token create --data "$work/n0" --role payment | tail -1)
head -c $((size_mib << 20)) /dev/urandom >"$work/in.bin"
out=$(DDS_NODE=$(url 0) DDS_TOKEN=$user "$work/dds" put "$work/in.bin")
id=$(awk '/^id/{print $2}' <<<"$out")
price=$(awk '/^price/{print $2}' <<<"$out")
for _ in $(seq 100); do # the payment token must have reached node 3
  DDS_NODE=$(url 3) DDS_TOKEN=$payer "$work/dds" pay "$id" --amount "$price" >/dev/null 2>&1 && break; sleep 0.1
done

info() { curl -sf -H "Authorization: Bearer $user" "$(url "$1")/files/$id/info"; }
stored_live() { info "$1" | jq '[.data.meta.copies[] | select(.state=="stored")] | length'; }
holders() { info "$1" | jq -r '.data.meta.copies[] | select(.state=="stored") | .node'; }
t0=$(now)
for _ in $(seq 300); do [ "$(stored_live 1 2>/dev/null || echo 0)" = 3 ] && break; sleep 0.1; done
echo "replicated to 3 copies in $(since "$t0") s"

node_of() { # the index of the live node whose id is $1
  for i in 0 1 2 3 4; do
    if [ "$(curl -sf -H "Authorization: Bearer $(admin "$i")" "$(url "$i")/network" 2>/dev/null | jq -r '.data[] | select(.attributes.self) | .id')" = "$1" ]; then echo "$i"; fi
  done; }
mapfile -t held < <(holders 1)
holder_idx=(); for h in "${held[@]}"; do holder_idx+=("$(node_of "$h")"); done
other=""; for i in 1 2 3 4; do [[ " ${holder_idx[*]} " == *" $i "* ]] || { other=$i; break; }; done
local_node=${holder_idx[0]}
echo "holders: nodes ${holder_idx[*]}; reading locally on node $local_node, proxied on node $other"

speed() { curl -sf -o /dev/null -w '%{speed_download}' -H "Authorization: Bearer $user" "$(url "$1")/files/$id"; }
loc=0; prox=0
for _ in 1 2 3; do
  l=$(speed "$local_node"); p=$(speed "$other")
  loc=$(echo "if ($l > $loc) $l else $loc" | bc); prox=$(echo "if ($p > $prox) $p else $prox" | bc)
done
printf 'GET %d MiB: local %.0f MB/s, proxied %.0f MB/s (%.2fx), best of 3\n' "$size_mib" \
  "$(echo "$loc/1000000" | bc -l)" "$(echo "$prox/1000000" | bc -l)" "$(echo "$prox/$loc" | bc -l)"
curl -sf -H "Authorization: Bearer $user" "$(url "$other")/files/$id" | cmp - "$work/in.bin"

# kill -9 node 0 for good.
watcher=1; [ "$watcher" = "$local_node" ] && watcher=2
id0=$(curl -sf -H "Authorization: Bearer $(admin 0)" "$(url 0)/network" | jq -r '.data[] | select(.attributes.self) | .id')
kill -9 "${pids[0]}"
t0=$(now)
until curl -sf -H "Authorization: Bearer $(admin "$watcher")" "$(url "$watcher")/network" |
  jq -e --arg id "$id0" '.data[] | select(.id==$id and .attributes.state=="gone")' >/dev/null; do sleep 0.05; done
echo "kill -9 of node 0: shown gone after $(since "$t0") s"
[ -n "${DEBUG:-}" ] && info "$watcher" | jq -c '[.data.meta.copies[] | {node, state, since}]' 
until [ "$(info "$watcher" | jq --arg id "$id0" '[.data.meta.copies[] | select(.state=="stored" and .node!=$id)] | length')" = 3 ]; do
  sleep 0.1
  [ "$(echo "$(since "$t0") > 60" | bc)" = 1 ] && { echo "no repair within 60 s"; break; }
done
echo "3 stored copies on live nodes again after $(since "$t0") s (repair-after 3s)"
[ -n "${DEBUG:-}" ] && info "$watcher" | jq -c '[.data.meta.copies[] | {node, state, since}]' 
curl -sf -H "Authorization: Bearer $user" "$(url "$watcher")/files/$id" | cmp - "$work/in.bin" && echo "content intact after repair"

# Flip one byte of a holder's copy: found either by the housekeeper's audit (the holder loses the copy,
# which is placed elsewhere) or by the holder's own scrub (it heals the copy from another holder),
# whichever comes first.
mapfile -t held < <(info "$watcher" | jq -r '.data.meta.copies[] | select(.state=="stored") | .node')
keeper_id=$(info "$watcher" | jq -r '.data.meta.copies[] | select(.state=="stored") | .node' | head -1)
victim=""; for h in "${held[@]}"; do i=$(node_of "$h"); [ -n "$i" ] && [ "$i" != "$watcher" ] && { victim=$i; break; }; done
hash=$(info "$watcher" | jq -r '.data.attributes.content_hash')
obj="$work/n$victim/blobs/objects/${hash:0:2}/$hash"
failed() { for i in 1 2 3 4; do curl -sf -H "Authorization: Bearer $(admin "$i")" "$(url "$i")/metrics" |
  awk '/^dds_audits\{result="failed"\}/{print $2}'; done | paste -sd+ | bc; }
failed_before=$(failed)
printf '\x00' | dd of="$obj" bs=1 seek=$((size_mib << 19)) conv=notrunc 2>/dev/null
t0=$(now)
how=""
while [ -z "$how" ]; do
  sleep 0.1
  if [ "$(failed)" -gt "${failed_before:-0}" ]; then how="an audit failed"
  elif [ ! -e "$obj" ] || [ "$(sha256sum "$obj" | cut -d' ' -f1)" = "$hash" ]; then how="the holder's own scrub healed it"
  fi
  [ "$(echo "$(since "$t0") > 60" | bc)" = 1 ] && { how="nothing within 60 s"; break; }
done
echo "one flipped byte on node $victim: found after $(since "$t0") s ($how; --audit-every 2s)"
until [ "$(info "$watcher" | jq '[.data.meta.copies[] | select(.state=="stored")] | length')" = 3 ]; do sleep 0.1; done
curl -sf -H "Authorization: Bearer $user" "$(url "$watcher")/files/$id" | cmp - "$work/in.bin" && echo "3 stored copies, content intact"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
