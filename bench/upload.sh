#!/usr/bin/env bash
# Uploads and downloads a large file through a real `dds serve` process and reports throughput and the
# server's peak resident memory, next to the disk's own fsynced write speed as the ceiling.
# Usage: bench/upload.sh [SIZE_MIB]   (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/dds" ./cmd/dds
port=$((20000 + RANDOM % 20000))
"$work/dds" serve --data "$work/data" --listen 127.0.0.1:$port --log-level warn --max-file-size $((size_mib << 21)) &
pid=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
user=$("$work/dds" token create --data "$work/data" --role user | tail -1)
payer=$("$work/dds" token create --data "$work/data" --role payment | tail -1)
export DDS_NODE=http://127.0.0.1:$port
head -c $((size_mib << 20)) /dev/urandom > "$work/in.bin"

echo "disk ceiling (dd, fsync):"
dd if="$work/in.bin" of="$work/dd.out" bs=1M conv=fsync 2>&1 | tail -1
rm -f "$work/dd.out"

t0=$(date +%s.%N)
DDS_TOKEN=$user "$work/dds" put "$work/in.bin" > "$work/put.out"
t1=$(date +%s.%N)
id=$(awk '/^id/{print $2}' "$work/put.out")
price=$(awk '/^price/{print $2}' "$work/put.out")
DDS_TOKEN=$payer "$work/dds" pay "$id" --amount "$price" >/dev/null
t2=$(date +%s.%N)
DDS_TOKEN=$user "$work/dds" get "$id" -o "$work/out.bin"
t3=$(date +%s.%N)
cmp "$work/in.bin" "$work/out.bin"
rss=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
awk -v s=$size_mib -v up=$(echo "$t1 - $t0" | bc) -v down=$(echo "$t3 - $t2" | bc) -v rss=$rss 'BEGIN {
  printf "upload   %d MiB in %.2f s: %.1f MiB/s\n", s, up, s/up
  printf "download %d MiB in %.2f s: %.1f MiB/s\n", s, down, s/down
  printf "server peak RSS: %.1f MiB\n", rss/1024 }'
