#!/usr/bin/env bash
# Print the path of a Kubo `ipfs` binary at the pinned version, building it if needed.
#
# Order: $IPFEED_IPFS_BIN if set; an `ipfs` on PATH whose version matches; the cache
# ($IPFEED_CACHE or ~/.cache/ipfeed) keyed by version; else build it from its Go module
# (Kubo >= v0.40 cannot be `go install`ed: its go.mod has an exclude block, so it is
# built as the main module from the module cache). Progress goes to stderr; the path
# alone goes to stdout.
set -euo pipefail

KUBO_VERSION="${KUBO_VERSION:-0.42.0}"
cache="${IPFEED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfeed}"
dest="$cache/kubo-v$KUBO_VERSION/ipfs"

version_of() { "$1" version --number 2>/dev/null || true; }

if [ -n "${IPFEED_IPFS_BIN:-}" ]; then
    echo "$IPFEED_IPFS_BIN"; exit 0
fi
if onpath=$(command -v ipfs 2>/dev/null) && [ "$(version_of "$onpath")" = "$KUBO_VERSION" ]; then
    echo "$onpath"; exit 0
fi
if [ -x "$dest" ] && [ "$(version_of "$dest")" = "$KUBO_VERSION" ]; then
    echo "$dest"; exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install-kubo: Go is not installed and no Kubo v$KUBO_VERSION was found." >&2
    echo "install-kubo: install Go, or put the official Kubo v$KUBO_VERSION release binary" >&2
    echo "install-kubo: on PATH as 'ipfs' (or set IPFEED_IPFS_BIN)." >&2
    exit 1
fi

echo "install-kubo: building Kubo v$KUBO_VERSION from its Go module (a few minutes, once)..." >&2
moddir=$(go mod download -json "github.com/ipfs/kubo@v$KUBO_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
mkdir -p "$(dirname "$dest")"
tmp="$dest.tmp.$$"
( cd "$moddir" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$tmp" ./cmd/ipfs ) >&2
mv -f "$tmp" "$dest"
echo "install-kubo: built $dest" >&2
echo "$dest"
