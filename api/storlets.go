package api

// The storlets controller (specs/storlets-controller-api.md) writes plain
// JSON: times as "2013-03-08 10:36:41.997" (UTC) and booleans of the spec as
// the strings "true" and "false".

// StorletsError is the controller's error body.
type StorletsError struct {
	Error   string `json:"error"`   // machine code
	Message string `json:"message"` // what is wrong and what to do
}

// Storlet is a storlet as the controller renders it.
type Storlet struct {
	ID               int64   `json:"id"`
	Name             string  `json:"name"`
	Language         string  `json:"language"`
	InterfaceVersion string  `json:"interface_version"`
	Dependency       string  `json:"dependency"`
	ObjectMetadata   string  `json:"object_metadata"`
	Main             string  `json:"main"`
	CreatedAt        string  `json:"created_at"`
	Deployed         string  `json:"deployed"`
	HasData          bool    `json:"has_data"`
	DataSize         int64   `json:"data_size,omitempty"`
	DataSHA256       string  `json:"data_sha256,omitempty"`
	Params           *string `json:"params,omitempty"` // in a list of deployed storlets
}

// StorletDependency is a dependency (a file storlets read) as the
// controller renders it.
type StorletDependency struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Permissions string `json:"permissions"`
	CreatedAt   string `json:"created_at"`
	Deployed    string `json:"deployed"`
	HasData     bool   `json:"has_data"`
	DataSize    int64  `json:"data_size,omitempty"`
	DataSHA256  string `json:"data_sha256,omitempty"`
}

// StorletMeta is the metadata a client sends to create a storlet (name is
// required) or to change one. A nil field is left as it is, or takes its
// default on create: language "wasm", interface_version "1.0",
// object_metadata "no", main "_start".
type StorletMeta struct {
	Name             *string `json:"name,omitempty"`
	Language         *string `json:"language,omitempty"`
	InterfaceVersion *string `json:"interface_version,omitempty"`
	Dependency       *string `json:"dependency,omitempty"` // comma-separated dependency names
	ObjectMetadata   *string `json:"object_metadata,omitempty"`
	Main             *string `json:"main,omitempty"` // the exported function to run
}

// StorletDependencyMeta is the metadata a client sends to create a
// dependency (name and version are required) or to change one.
type StorletDependencyMeta struct {
	Name        *string `json:"name,omitempty"`
	Version     *string `json:"version,omitempty"`
	Permissions *string `json:"permissions,omitempty"` // octal, such as "0755"
}

// StorletDeploy is the body of a deployment. Params is a query string
// ("select=user_id&x=1"); the controller also takes a JSON object of
// strings.
type StorletDeploy struct {
	Params string `json:"params"`
}

// StorletDeployment is the answer to a deployment.
type StorletDeployment struct {
	Account      string `json:"account"`
	StorletID    int64  `json:"storlet_id,omitempty"`
	DependencyID int64  `json:"dependency_id,omitempty"`
	Name         string `json:"name"`
	Params       string `json:"params"`
}
