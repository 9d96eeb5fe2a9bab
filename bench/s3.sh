#!/usr/bin/env bash
# Large PUT and GET through a real `dds serve` whose content is in MinIO (--blobs s3://...), side by side
# with the same MinIO accessed directly and with a second `dds serve` on a local directory, one client for
# all (curl; S3 requests signed with --aws-sigv4, payload unsigned), in one run. Each round uploads
# different bytes. The node's PUT is DEP-7's raw PUT, which hashes SHA-256 and SHA3-256 on the way.
# Usage: bench/s3.sh [SIZE_MIB] [ROUNDS]   (default 256, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-256}
rounds=${2:-3}
eval "$(.ci/minio)"
cred=${DDS_TEST_S3#http://}
keys=${cred%@*}
s3url=http://${cred#*@}
export AWS_ACCESS_KEY_ID=${keys%%:*} AWS_SECRET_ACCESS_KEY=${keys#*:}
s3() { curl -sSf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$keys" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }

work=$(mktemp -d)
bucket=dds-bench-$RANDOM
pid=""
pid2=""
trap 'kill $pid $pid2 2>/dev/null || true; wait $pid $pid2 2>/dev/null || true
  for b in $bucket-node $bucket-direct; do s3 -X DELETE -H "x-minio-force-delete: true" "$s3url/$b" >/dev/null || true; done
  rm -rf "$work"' EXIT
s3 -X PUT "$s3url/$bucket-node" >/dev/null
s3 -X PUT "$s3url/$bucket-direct" >/dev/null

go build -o "$work/dds" ./cmd/dds
port=$((20000 + RANDOM % 20000))
"$work/dds" serve --data "$work/data" --listen 127.0.0.1:$port --log-level warn --max-file-size $((size_mib << 21)) \
  --blobs "s3://$bucket-node?endpoint=${cred#*@}&insecure=true" &
pid=$!
node=http://127.0.0.1:$port
"$work/dds" serve --data "$work/local" --listen 127.0.0.1:$((port + 1)) --log-level warn --max-file-size $((size_mib << 21)) &
pid2=$!
local=http://127.0.0.1:$((port + 1))
for u in $node $local; do
  for _ in $(seq 100); do curl -sf $u/healthz >/dev/null && break; sleep 0.1; done
done
user=$("$work/dds" token create --data "$work/data" --role user | tail -1)
user2=$("$work/dds" token create --data "$work/local" --role user | tail -1)
register() { curl -sSf -X POST -H "Authorization: Bearer $2" -H "Content-Type: text/plain" --data '{"name":"bench"}' "$1/api/v1/meta/data" | tr -d '"'; }
id=$(register $node "$user")
id2=$(register $local "$user2")
dds_put() { curl -sSf -X PUT -H "Authorization: Bearer $2" -H "Content-Type: application/octet-stream" -T "$work/in.bin" -o /dev/null -w '%{time_total}' "$1/api/v1/assets/$3"; }
dds_get() { curl -sSf -H "Authorization: Bearer $2" -o "${4:-/dev/null}" -w '%{time_total}' "$1/api/v1/assets/$3"; }
head -c $((size_mib << 20)) /dev/urandom > "$work/in.bin"

mbps() { awk -v s="$size_mib" -v t="$1" 'BEGIN { printf "%.0f", s * 1.048576 / t }'; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $size_mib MiB objects, $rounds rounds"
printf "%-6s %10s %10s %10s   %10s %10s %10s   (MB/s)\n" round "PUT MinIO" "dds on S3" "dds local" "GET MinIO" "dds on S3" "dds local"
: > "$work/times"
for r in $(seq "$rounds"); do
  printf 'round %04d' "$r" | dd of="$work/in.bin" conv=notrunc status=none   # new bytes: no dedup
  put_s3=$(s3 -T "$work/in.bin" -o /dev/null -w '%{time_total}' "$s3url/$bucket-direct/obj")
  put_dds=$(dds_put $node "$user" "$id")
  put_local=$(dds_put $local "$user2" "$id2")
  get_s3=$(s3 -o /dev/null -w '%{time_total}' "$s3url/$bucket-direct/obj")
  get_dds=$(dds_get $node "$user" "$id")
  get_local=$(dds_get $local "$user2" "$id2")
  # Checked apart: every timed GET writes to /dev/null, as the direct one.
  dds_get $node "$user" "$id" "$work/out.bin" >/dev/null
  cmp -s "$work/in.bin" "$work/out.bin" || { echo "round $r: dds on S3 returned other bytes"; exit 1; }
  rm -f "$work/out.bin"
  echo "$put_s3 $put_dds $put_local $get_s3 $get_dds $get_local" >> "$work/times"
  printf "%-6s %10s %10s %10s   %10s %10s %10s\n" "$r" "$(mbps "$put_s3")" "$(mbps "$put_dds")" "$(mbps "$put_local")" \
    "$(mbps "$get_s3")" "$(mbps "$get_dds")" "$(mbps "$get_local")"
done
awk -v s="$size_mib" '{ for (i = 1; i <= 6; i++) t[i] += $i } END {
  mb = NR * s * 1.048576
  printf "PUT: MinIO %.0f MB/s, dds on S3 %.0f MB/s (%.2fx MinIO), dds on a directory %.0f MB/s (S3 backend %.2fx the directory)\n", mb/t[1], mb/t[2], t[1]/t[2], mb/t[3], t[3]/t[2]
  printf "GET: MinIO %.0f MB/s, dds on S3 %.0f MB/s (%.2fx MinIO), dds on a directory %.0f MB/s (S3 backend %.2fx the directory)\n", mb/t[4], mb/t[5], t[4]/t[5], mb/t[6], t[6]/t[5] }' "$work/times"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
