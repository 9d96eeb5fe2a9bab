#!/usr/bin/env bash
# Uploads 1 GiB to a real `dds serve` process through the DEP-7 API (raw PUT
# streamed without a known length, then multipart POST of a file) and
# reports the server's peak resident memory (VmHWM) and the throughput.
# Usage: bench/assets-rss.sh [SIZE_MiB]   (default 1024; needs curl, python3)
set -euo pipefail
size_mib=${1:-1024}
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
base=http://127.0.0.1:$port
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

go build -o "$dir/dds" ./cmd/dds
printf 'benchmark password\n' | "$dir/dds" user create --data "$dir/node" --name bench --password-stdin >/dev/null
"$dir/dds" serve --data "$dir/node" --listen "127.0.0.1:$port" --log-level warn &
pid=$!
for _ in $(seq 50); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done

tok=$(curl -fsS -u bench:'benchmark password' "$base/api/v1/auth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0])')
# Content that is cheap to regenerate identically: a repeated random MiB.
head -c 1048576 /dev/urandom > "$dir/mib"
gen() { for _ in $(seq "$size_mib"); do cat "$dir/mib"; done; }
hash=$(gen | python3 -c 'import hashlib,sys
h=hashlib.sha3_256()
while b:=sys.stdin.buffer.read(1<<20): h.update(b)
print(h.hexdigest())')
hwm() { awk '/VmHWM/ {print int($2/1024) " MiB"}' "/proc/$pid/status"; }
echo "server peak RSS after start: $(hwm)"

for mode in put post; do
  id=$(curl -fsS -H "Authorization: token $tok" -H 'Content-Type: text/plain' \
    --data-binary "{\"name\":\"bench $mode\",\"contentHash\":\"$hash\"}" "$base/api/v1/meta/data" | tr -d '"')
  start=$(date +%s.%N)
  if [ $mode = put ]; then
    gen | curl -fsS -o /dev/null -H "Authorization: token $tok" -T - "$base/api/v1/assets/$id"
  else
    # curl would buffer a form field read from stdin: give it a file.
    [ -f "$dir/big.bin" ] || gen > "$dir/big.bin"
    start=$(date +%s.%N)
    curl -fsS -o /dev/null -H "Authorization: token $tok" -F "file=@$dir/big.bin" "$base/api/v1/assets/$id"
  fi
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  echo "$mode ${size_mib} MiB: ${secs}s ($(echo "$size_mib * 1.048576 / $secs" | bc) MB/s); server peak RSS so far: $(hwm)"
done
start=$(date +%s.%N)
got=$(curl -fsS -H "Authorization: token $tok" "$base/api/v1/assets/$id" | python3 -c 'import hashlib,sys
h=hashlib.sha3_256()
while b:=sys.stdin.buffer.read(1<<20): h.update(b)
print(h.hexdigest())')
[ "$got" = "$hash" ] || { echo "download differs" >&2; exit 1; }
echo "get ${size_mib} MiB (hashed by python): $(echo "$(date +%s.%N) - $start" | bc)s; server peak RSS: $(hwm)"
