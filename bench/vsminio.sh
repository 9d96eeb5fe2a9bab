#!/usr/bin/env bash
# dds against MinIO, side by side in one run with one client (bench/vsminio):
# large PUT and GET, small-object creates and GETs with concurrent clients;
# prints each figure, the dds / MinIO ratio and the load average.
# Usage: bench/vsminio.sh [--short] [--large-mib 256] [--runs 2] [--small 500] [--clients 8] ...
#   (go run ./bench/vsminio --help lists every flag)
# MinIO: $DDS_MINIO, else minio in $(go env GOPATH)/bin or on PATH, else built
# once from its Go module into $(go env GOPATH)/bin (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
minio_version=v0.0.0-20260212201848-7aac2a2c5b7c
gobin=$(go env GOPATH)/bin
minio=${DDS_MINIO:-}
if [ -z "$minio" ]; then
  if [ -x "$gobin/minio" ]; then minio=$gobin/minio
  elif command -v minio >/dev/null; then minio=$(command -v minio)
  else
    echo "building MinIO $minio_version into $gobin (once; a few minutes)" >&2
    GOBIN=$gobin go install "github.com/minio/minio@$minio_version"
    minio=$gobin/minio
  fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/dds" ./cmd/dds
go build -o "$work/vsminio" ./bench/vsminio
echo "MinIO: $minio ($("$minio" --version 2>/dev/null | head -1))"
"$work/vsminio" --dds "$work/dds" --minio "$minio" "$@"
