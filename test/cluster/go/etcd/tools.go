//go:build tools

// Keeps the etcd server command in go.mod and go.sum.
package tools

import _ "go.etcd.io/etcd/server/v3"
