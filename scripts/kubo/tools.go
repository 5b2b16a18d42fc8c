//go:build tools

// Package kubo is not a program: it pins the Kubo release ipfeed runs and the go-libp2p
// release it is built with, so that `go build github.com/ipfs/kubo/cmd/ipfs` in this folder
// gives exactly that binary (scripts/install-kubo.sh does it). Kubo v0.43.1's own go.mod
// replaces go-libp2p with a fork the Go module proxy refuses; as a dependency of this module
// that replace does not apply, and go-libp2p v0.50.0 (the first release with quic-go v0.62.0
// and webtransport-go v0.13.0, which the fork exists to carry) stands in for it.
package kubo

import _ "github.com/ipfs/kubo/cmd/ipfs"
