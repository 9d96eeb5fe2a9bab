package api

import "time"

// The wire types of the operator console's admin endpoints
// (GET /console/api/..., admin only).

// ConsoleStorage is what this node stores, and room left on its disk.
type ConsoleStorage struct {
	DiskTotal int64 `json:"disk_total"` // bytes of the data directory's file system
	DiskFree  int64 `json:"disk_free"`  // bytes free to an unprivileged writer
	DiskUsed  int64 `json:"disk_used"`  // by anything on that file system
	// Blobs and BlobBytes are every face's content together.
	Blobs     int64         `json:"blobs"`
	BlobBytes int64         `json:"blob_bytes"`
	Faces     []ConsoleFace `json:"faces"`
	At        time.Time     `json:"at"`
}

// ConsoleFace is what one face keeps here. Bytes is -1 when the face does
// not say.
type ConsoleFace struct {
	Face  string `json:"face"`
	Items int64  `json:"items"`
	Bytes int64  `json:"bytes"`
}

// ConsoleDay is one day of the money chart: prices of the quotes made,
// successful payments received and storage charges accrued that day
// (decimal tokens).
type ConsoleDay struct {
	Day     string `json:"day"` // yyyy-mm-dd, UTC
	Quoted  string `json:"quoted"`
	Paid    string `json:"paid"`
	Accrued string `json:"accrued"`
	Stored  int64  `json:"stored"` // bytes of the files stored that day
}

// ConsoleFile is a file this node holds, with its copies.
type ConsoleFile struct {
	Name      string          `json:"name"`
	Owner     string          `json:"owner"`
	Size      int64           `json:"size"`
	State     string          `json:"state"`
	ExpiresAt time.Time       `json:"expires_at"`
	Holders   []ConsoleHolder `json:"holders"`
}

// ConsoleHolder is a node keeping a copy.
type ConsoleHolder struct {
	Node  string `json:"node"`
	State string `json:"state"` // pending, stored or lost
	Share int    `json:"share"`
}
