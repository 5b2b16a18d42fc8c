#!/usr/bin/env bash
# Print the path of a Kubo `ipfs` binary at the pinned version, building it if needed.
#
# The version is ipfeed's one KUBO_VERSION (ipfeed/config.py). Order: $IPFEED_IPFS_BIN if
# set; an `ipfs` on PATH whose version matches; the cache ($IPFEED_CACHE or
# ~/.cache/ipfeed) keyed by version and by the wrapper module's go.sum; else build it.
#
# Kubo v0.43.1 cannot be built as the main module here (its go.mod replaces go-libp2p with
# a fork the Go module proxy refuses) nor `go install`ed (replace/exclude directives). So it
# is built as a dependency of the small wrapper module in scripts/kubo/, whose go.mod and
# go.sum pin Kubo and go-libp2p v0.50.0 (README, "Kubo"). Progress goes to stderr; the
# path alone goes to stdout.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
KUBO_VERSION="$(sed -n 's/^KUBO_VERSION = "\(.*\)"$/\1/p' "$here/../ipfeed/config.py")"
if [ -z "$KUBO_VERSION" ]; then
    echo "install-kubo: cannot read KUBO_VERSION from ipfeed/config.py" >&2; exit 1
fi
if ! grep -Eq "^(require )?[[:space:]]*github.com/ipfs/kubo v$KUBO_VERSION\$" "$here/kubo/go.mod"; then
    echo "install-kubo: scripts/kubo/go.mod does not require Kubo v$KUBO_VERSION (ipfeed/config.py);" >&2
    echo "install-kubo: run: cd scripts/kubo && go get github.com/ipfs/kubo@v$KUBO_VERSION && go mod tidy" >&2
    exit 1
fi
cache="${IPFEED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfeed}"
dest="$cache/kubo-v$KUBO_VERSION/ipfs"
build_id="$(sha256sum "$here/kubo/go.sum" | cut -c1-16)"

version_of() { "$1" version --number 2>/dev/null || true; }

if [ -n "${IPFEED_IPFS_BIN:-}" ]; then
    echo "$IPFEED_IPFS_BIN"; exit 0
fi
if onpath=$(command -v ipfs 2>/dev/null) && [ "$(version_of "$onpath")" = "$KUBO_VERSION" ]; then
    echo "$onpath"; exit 0
fi
if [ -x "$dest" ] && [ "$(version_of "$dest")" = "$KUBO_VERSION" ] \
        && [ "$(cat "$dest.build-id" 2>/dev/null)" = "$build_id" ]; then
    echo "$dest"; exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install-kubo: Go is not installed and no Kubo v$KUBO_VERSION was found." >&2
    echo "install-kubo: install Go, or put a Kubo v$KUBO_VERSION binary on PATH as 'ipfs'" >&2
    echo "install-kubo: (or set IPFEED_IPFS_BIN)." >&2
    exit 1
fi

echo "install-kubo: building Kubo v$KUBO_VERSION from its Go module (a few minutes, once)..." >&2
mkdir -p "$(dirname "$dest")"
tmp="$dest.tmp.$$"
( cd "$here/kubo" && CGO_ENABLED=0 go build -mod=readonly -trimpath -o "$tmp" github.com/ipfs/kubo/cmd/ipfs ) >&2
got="$(version_of "$tmp")"
if [ "$got" != "$KUBO_VERSION" ]; then
    rm -f "$tmp"
    echo "install-kubo: the binary built reports version '$got', not $KUBO_VERSION" >&2; exit 1
fi
mv -f "$tmp" "$dest"
echo "$build_id" > "$dest.build-id"
echo "install-kubo: built $dest" >&2
echo "$dest"
