#!/usr/bin/env bash
# Large PUT and GET through a real `dds serve` whose content is in MinIO (--blobs s3://...), side by side
# with the same MinIO accessed directly, one client for both (curl; S3 requests signed with --aws-sigv4,
# payload unsigned), in one run. Each round uploads different bytes.
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
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
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
for _ in $(seq 100); do curl -sf $node/healthz >/dev/null && break; sleep 0.1; done
user=$("$work/dds" token create --data "$work/data" --role user | tail -1)
id=$(curl -sSf -X POST -H "Authorization: Bearer $user" -H "Content-Type: text/plain" --data '{"name":"bench"}' $node/api/v1/meta/data | tr -d '"')
head -c $((size_mib << 20)) /dev/urandom > "$work/in.bin"

mbps() { awk -v s="$size_mib" -v t="$1" 'BEGIN { printf "%.0f", s * 1.048576 / t }'; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $size_mib MiB objects, $rounds rounds"
printf "%-6s %12s %12s %12s %12s\n" round "PUT MinIO" "PUT dds" "GET MinIO" "GET dds"
sum() { awk '{ s += $1 } END { print s }'; }
: > "$work/times"
for r in $(seq "$rounds"); do
  printf 'round %04d' "$r" | dd of="$work/in.bin" conv=notrunc status=none   # new bytes: no dedup
  put_s3=$(s3 -T "$work/in.bin" -o /dev/null -w '%{time_total}' "$s3url/$bucket-direct/obj")
  put_dds=$(curl -sSf -X PUT -H "Authorization: Bearer $user" -H "Content-Type: application/octet-stream" \
    -T "$work/in.bin" -o /dev/null -w '%{time_total}' "$node/api/v1/assets/$id")
  get_s3=$(s3 -o /dev/null -w '%{time_total}' "$s3url/$bucket-direct/obj")
  get_dds=$(curl -sSf -H "Authorization: Bearer $user" -o "$work/out.bin" -w '%{time_total}' "$node/api/v1/assets/$id")
  cmp -s "$work/in.bin" "$work/out.bin" || { echo "round $r: dds returned other bytes"; exit 1; }
  rm -f "$work/out.bin"
  echo "$put_s3 $put_dds $get_s3 $get_dds" >> "$work/times"
  printf "%-6s %9s MB/s %7s MB/s %7s MB/s %7s MB/s\n" "$r" "$(mbps "$put_s3")" "$(mbps "$put_dds")" "$(mbps "$get_s3")" "$(mbps "$get_dds")"
done
awk -v s="$size_mib" '{ ps += $1; pd += $2; gs += $3; gd += $4 } END {
  printf "total  PUT: MinIO %.0f MB/s, dds %.0f MB/s, dds/MinIO %.2fx\n", NR*s*1.048576/ps, NR*s*1.048576/pd, ps/pd
  printf "total  GET: MinIO %.0f MB/s, dds %.0f MB/s, dds/MinIO %.2fx\n", NR*s*1.048576/gs, NR*s*1.048576/gd, gs/gd }' "$work/times"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
