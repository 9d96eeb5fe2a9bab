package network

import (
	"context"
	"time"
)

// Store is what the network keeps in the metadata database (persist.Network
// implements it): which version of a record each holder is known to have,
// and the audits this node made.
type Store interface {
	// Acked is the version of the record fileID that node last
	// acknowledged; "" if none.
	Acked(ctx context.Context, fileID, node string) (string, error)
	// Ack remembers that node has version of the record fileID.
	Ack(ctx context.Context, fileID, node, version string) error
	// RecordAudit keeps a as the last audit of node's copy of fileID and
	// counts its result, both or neither.
	RecordAudit(ctx context.Context, fileID, node string, a Audit) error
	// Audits lists the last audit of every copy audited.
	Audits(ctx context.Context) ([]CopyAudit, error)
	// AuditCounts counts the audits made, by result ("passed", "failed").
	AuditCounts(ctx context.Context) (map[string]int64, error)
	// AuditCursor is the last file an audit pass reached ("" before the
	// first); SetAuditCursor moves it.
	AuditCursor(ctx context.Context) (string, error)
	SetAuditCursor(ctx context.Context, fileID string) error

	// UseNonce records the nonce of a signed request from node, kept until
	// expires; it reports false if the nonce was recorded already (a
	// replay), by this process or another of the node.
	UseNonce(ctx context.Context, node, nonce string, expires time.Time) (bool, error)
	// SweepNonces forgets the nonces that expired before now.
	SweepNonces(ctx context.Context, now time.Time) error

	// Wake asks the process of the node that runs replication for a pass
	// soon, for the file fileID (called in the payment's transaction).
	Wake(ctx context.Context, fileID string) error
	// Woken reports whether a pass was asked for since the last call, and
	// forgets the asks.
	Woken(ctx context.Context) (bool, error)
	// AfterCommit runs f once ctx's transaction commits (never if it rolls
	// back), or at once outside a transaction.
	AfterCommit(ctx context.Context, f func())
}

// CopyAudit is the last audit of one holder's copy of a file.
type CopyAudit struct {
	FileID string
	Node   string
	Audit  Audit
}
