package api

// The DEP-7 universal storage face, with DEP-15's Meta API, the Auth API and
// DEP-11's discovery. Most of its answers are bare JSON values, as the
// reference agent's clients (starfish-py, starfish-java) expect:
//
//	POST /api/v1/meta/data, PUT /api/v1/meta/data/{id}  "<asset id>"
//	GET  /api/v1/meta/data/{id}                          the metadata, byte for byte
//	GET  /api/v1/meta/data                               ["<asset id>", ...]
//	GET  /api/v1/meta/index                              {"<asset id>": metadata, ...}
//	PUT|POST /api/v1/assets/{id}                         "<asset id>", Location: /api/v1/assets/{id}
//	GET  /api/v1/auth/token                              ["<token>", ...]
//	POST /api/v1/auth/token                              "<token>"
//	DELETE /api/v1/auth/revoke/{token}                   true

// AssetMetadata is the part of a DEP-8 metadata document the node reads.
// A client may send any further attributes: the asset id is the SHA3-256 of
// the exact bytes sent, so the document is never re-serialised.
type AssetMetadata struct {
	Name        string `json:"name,omitempty"`
	Type        string `json:"type,omitempty"`        // dataset (default), operation or bundle
	ContentType string `json:"contentType,omitempty"` // of the content, served on download
	Size        string `json:"size,omitempty"`        // bytes, as a decimal string
	ContentHash string `json:"contentHash,omitempty"` // lowercase hex SHA3-256 of the content
}

// AssetError is the face's error body: DEP-15 asks for "a map with error
// code and error description"; the status repeats the HTTP status.
type AssetError struct {
	Error  string `json:"error"`
	Code   string `json:"code"`
	Status int    `json:"status"`
}

// AssetStatus is DEP-11's agent status (GET /api/status). The fields are in
// the order the node has always written them.
type AssetStatus struct {
	APIVersions []string          `json:"api-versions"`
	Custom      AssetStatusCustom `json:"custom"`
	Description string            `json:"description"`
	Name        string            `json:"name"`
}

// AssetStatusCustom is the node's own part of the status.
type AssetStatusCustom struct {
	DID        string `json:"did"`
	Node       string `json:"node"`
	ServerType string `json:"server-type"`
}

// AssetDDO is the node's DID document (GET /api/ddo): the endpoints DEP
// clients look up by service type (DEP.Meta.v1, DEP.Storage.v1, DEP.Auth.v1,
// DEP.Status, DEP.DDO).
type AssetDDO struct {
	Context string            `json:"@context"`
	ID      string            `json:"id"`
	Service []AssetDDOService `json:"service"`
}

// AssetDDOService is one endpoint of the DDO.
type AssetDDOService struct {
	ID              string `json:"id"`
	ServiceEndpoint string `json:"serviceEndpoint"`
	Type            string `json:"type"`
}

// AssetAccess is who may read an asset (its metadata and its content):
// "private" (the owner only, the default), "shared" (the owner and the
// principals listed by account id) or "public" (anyone, without a token
// too). GET and PUT /api/v1/meta/access/{id}, the owner only.
type AssetAccess struct {
	Access     string   `json:"access"`
	Principals []string `json:"principals,omitempty"`
}
