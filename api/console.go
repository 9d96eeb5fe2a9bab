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
	// Copies counts, for each node, the copies it holds of the files
	// stored here.
	Copies map[string]int64 `json:"copies"`
	At     time.Time        `json:"at"`
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

// ConsoleJob is a compute job as the console lists it (GET /console/api/jobs).
type ConsoleJob struct {
	ID          string     `json:"id"`
	Status      int        `json:"status"`
	StatusText  string     `json:"status_text"`
	Consumer    string     `json:"consumer"`  // 0x address
	Dataset     string     `json:"dataset"`   // the main dataset's DID
	Algorithm   string     `json:"algorithm"` // its DID, or "raw" with its URL
	Environment string     `json:"environment"`
	CreatedAt   time.Time  `json:"created_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// ConsoleDeal is a deal as the console lists it (GET /console/api/deals).
type ConsoleDeal struct {
	ID        string    `json:"id"`
	State     string    `json:"state"` // Created, Paying, Paid, Completed, Cancelled, Expired
	Type      string    `json:"type"`
	Seller    string    `json:"seller"`   // Bitcoin address
	Customer  string    `json:"customer"` // Bitcoin address
	Sum       string    `json:"sum"`      // BTC, without trailing zeros
	File      string    `json:"file,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}
