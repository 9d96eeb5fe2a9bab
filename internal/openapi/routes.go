package openapi

import (
	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/jsonapi"
)

// Security schemes.
const (
	bearer    = "bearer"     // Authorization: Bearer <token> (dds token create, the accounts API)
	basic     = "basic"      // DEP-7's token API: HTTP Basic with a password (dds user create)
	xAuth     = "xAuthToken" // the storlets controller also takes X-Auth-Token
	oceanSig  = "oceanSignature"
	oceanTok  = "oceanAuthToken"
	dealHMAC  = "dealHMAC"
	nodeSig   = "nodeSignature"
	textPlain = "text/plain"
)

func build() map[string]any {
	d := &doc{s: schemas{defs: map[string]any{}}, paths: map[string]map[string]any{}}
	jsonapiErr := map[string]any{"application/vnd.api+json": d.s.of(jsonapi.ErrorDocument{})}
	oceanErr := jsonOf(map[string]any{"type": "object", "required": []string{"error"}, "properties": map[string]any{"error": stringSchema}})
	d.errs = map[string]map[string]any{
		"dds": jsonapiErr, "billing": jsonapiErr, "accounts": jsonapiErr, "console": jsonapiErr, "node": jsonapiErr,
		"internal": jsonapiErr, "dep7": jsonOf(d.s.of(api.AssetError{})), "storlets": jsonOf(d.s.of(api.StorletsError{})),
		"ocean": oceanErr, "compute": oceanErr, "deals": jsonOf(d.s.of(api.DealError{})),
	}
	nodeRoutes(d)
	ddsRoutes(d)
	dep7Routes(d)
	storletRoutes(d)
	oceanRoutes(d)
	dealRoutes(d)
	internalRoutes(d)
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Prometheus DDS node", "version": "1",
			"description": "Every face of a dds node on one listener: DDS and Billing (JSON:API), accounts, the console's admin API, " +
				"DEP-7 universal storage, storlets, the Ocean provider with compute-to-data, the deal module, and the signed " +
				"node-to-node API. Each face answers errors in its own format (the 4XX answers of each operation)."},
		"tags": []any{
			tag("node", "health, metrics, this document, the network's members"),
			tag("dds", "files: upload with a price (402), download, extend, list, cancel"),
			tag("billing", "payments and statements"),
			tag("accounts", "accounts and their tokens"),
			tag("console", "the operator console and its admin API"),
			tag("dep7", "DEP-7 universal storage, DEP-15 Meta API, auth tokens, DEP-11 discovery"),
			tag("storlets", "the storlets controller: WebAssembly run on reads and uploads"),
			tag("ocean", "the Ocean data provider and its asset documents"),
			tag("compute", "compute-to-data on the Ocean provider"),
			tag("deals", "the deal module: accounts and Bitcoin escrow deals"),
			tag("internal", "node-to-node, signed by a member's key; never a user's token"),
		},
		"paths": d.paths,
		"components": map[string]any{
			"schemas":   d.s.defs,
			"responses": d.errorResponses(),
			"securitySchemes": map[string]any{
				bearer: map[string]any{"type": "http", "scheme": "bearer", "description": "a token of an account (user, payment or admin)"},
				basic:  map[string]any{"type": "http", "scheme": "basic", "description": "an account's name and password (dds user create)"},
				xAuth:  map[string]any{"type": "apiKey", "in": "header", "name": "X-Auth-Token", "description": "an admin token, as Swift clients send it"},
				oceanSig: map[string]any{"type": "apiKey", "in": "query", "name": "signature",
					"description": "EIP-191 signature by consumerAddress of the operation's message with a nonce greater than the last one used (GET /api/services/nonce)"},
				oceanTok: map[string]any{"type": "apiKey", "in": "header", "name": "AuthToken",
					"description": "a token made by createAuthToken, in place of a signature"},
				dealHMAC: map[string]any{"type": "apiKey", "in": "header", "name": "Signature",
					"description": "hex HMAC-SHA256 with the Session's secret (account/token) of the path without /api/v1, the Nonce header and the body (or \"null\"); headers Session, Nonce and Signature"},
				nodeSig: map[string]any{"type": "apiKey", "in": "header", "name": "X-Dds-Signature",
					"description": "secp256k1 signature of the sending member over method, path, body hash (X-Dds-Body-Sha256), target (X-Dds-To), time (X-Dds-Time) and nonce (X-Dds-Nonce); sender in X-Dds-Node"},
			},
		},
	}
}

func tag(name, desc string) map[string]any { return map[string]any{"name": name, "description": desc} }

func nodeRoutes(d *doc) {
	d.op("get", "/healthz", "node", "answers ok while the node serves").resp("200", "ok", map[string]any{textPlain: stringSchema})
	d.op("get", "/metrics", "node", "Prometheus metrics (admin, unless --metrics-public)").sec(bearer).
		resp("200", "Prometheus text format", map[string]any{textPlain: stringSchema})
	profile := map[string]any{"application/octet-stream": bytesSchema, textPlain: stringSchema}
	for _, p := range []struct{ method, path, what string }{
		{"get", "/debug/pprof/", "the profiles' index; /debug/pprof/heap, goroutine, allocs, block, mutex..."},
		{"get", "/debug/pprof/cmdline", "the node's command line"},
		{"get", "/debug/pprof/profile", "a CPU profile (?seconds=30)"},
		{"get", "/debug/pprof/symbol", "symbols of program counters"},
		{"post", "/debug/pprof/symbol", "symbols of program counters"},
		{"get", "/debug/pprof/trace", "an execution trace (?seconds=5)"},
	} {
		d.op(p.method, p.path, "node", "Go's profiler, with --pprof (admin): "+p.what).sec(bearer).resp("200", "the profile", profile)
	}
	d.op("get", "/openapi.json", "node", "this document").resp("200", "OpenAPI 3.1", jsonOf(objectSchema))
	d.op("get", "/network", "node", "the network's members, their state and last contact (admin)").sec(bearer).
		resp("200", "the members", jsonAPI("member", d.s.of(api.Member{}), true))
}

func ddsRoutes(d *doc) {
	file := d.s.of(api.File{})
	d.op("post", "/files", "dds", "upload a file: answers its price; the file is pending until paid").sec(bearer).
		body("name, content (standard base64), term in seconds, additional attributes", jsonAPI("file",
			attrs([]string{"name", "data"}, map[string]string{"name": "string", "data": "string", "duration": "integer", "additional": "object"}), false)).
		resp("402", "pending: meta.quote is the price to pay (POST /payments)", jsonAPI("file", file, false))
	d.op("get", "/files", "dds", "the caller's files, newest first, from every live node").sec(bearer).
		query("page[size]", "integer", "files per page").query("page[after]", "string", "the last id of the previous page").
		resp("200", "a page; links.next while more remain", jsonAPI("file", file, true))
	d.op("get", "/files/{id}", "dds", "download the content (Range, If-None-Match); storlets may run").sec(bearer).
		header("Range", "a byte range").header("X-Run-Storlet", "a storlet to run on the content").
		resp("200", "the content", map[string]any{"application/octet-stream": bytesSchema}).
		resp("206", "the range asked", map[string]any{"application/octet-stream": bytesSchema}).
		resp("304", "unchanged (If-None-Match)", nil)
	d.op("head", "/files/{id}", "dds", "the content's headers").sec(bearer).resp("200", "size, type, ETag", nil)
	d.op("patch", "/files/{id}", "dds", "extend the term (new total duration) or change attributes (owner)").sec(bearer).
		body("duration (s), additional (merged; null deletes)", jsonAPI("file",
			attrs(nil, map[string]string{"duration": "integer", "additional": "object"}), false)).
		resp("200", "changed", jsonAPI("file", file, false)).
		resp("402", "the extension's price (meta.quote)", jsonAPI("file", file, false))
	d.op("delete", "/files/{id}", "dds", "cancel an upload never paid (owner)").sec(bearer).resp("204", "cancelled", nil)
	d.op("get", "/files/{id}/info", "dds", "the file's record: state, price, hashes, copies (meta.copies)").sec(bearer).
		resp("200", "the file", jsonAPI("file", file, false))

	d.op("post", "/payments", "billing", "report a payment for a file's open quote (payment processor)").sec(bearer).
		header("Idempotency-Key", "a repeated key is recorded once").
		body("the payment", jsonAPI("payment", attrs([]string{"file_id", "status", "amount"},
			map[string]string{"file_id": "string", "status": "string", "amount": "string", "document_id": "string",
				"service_id": "string", "consumer_address": "string"}), false)).
		resp("201", "recorded; meta.quote says where the quote stands", jsonAPI("payment", d.s.of(api.Payment{}), false))
	d.op("get", "/payments/{id}", "billing", "a payment (payment processor, admin)").sec(bearer).
		resp("200", "the payment", jsonAPI("payment", d.s.of(api.Payment{}), false))
	d.op("get", "/payments/local", "billing", "what this node is owed for a period (admin)").sec(bearer).
		required("from", "string", "yyyymmdd").required("to", "string", "yyyymmdd").
		resp("200", "the statement", jsonAPI("statement", d.s.of(api.Statement{}), false))

	account, token := d.s.of(api.Account{}), d.s.of(api.Token{})
	d.op("get", "/accounts", "accounts", "every account this node knows (admin)").sec(bearer).
		resp("200", "the accounts", jsonAPI("account", account, true))
	d.op("post", "/accounts", "accounts", "create an account (admin)").sec(bearer).
		body("name and role (user, payment or admin)", jsonAPI("account", attrs([]string{"role"}, map[string]string{"name": "string", "role": "string"}), false)).
		resp("201", "the account", jsonAPI("account", account, false))
	d.op("get", "/accounts/{account}", "accounts", "an account by id or name, or me (admin, or the account itself)").sec(bearer).
		resp("200", "the account", jsonAPI("account", account, false))
	d.op("get", "/accounts/{account}/tokens", "accounts", "the account's tokens, never their values").sec(bearer).
		resp("200", "the tokens", jsonAPI("token", token, true))
	d.op("post", "/accounts/{account}/tokens", "accounts", "issue a token, shown this once").sec(bearer).
		body("an optional label", jsonAPI("token", attrs(nil, map[string]string{"label": "string"}), false)).
		resp("201", "the token", jsonAPI("token", token, false))
	d.op("delete", "/accounts/{account}/tokens", "accounts", "revoke every token of the account and clear its password, on every node").sec(bearer).
		resp("200", "meta.revoked: how many tokens", map[string]any{"application/vnd.api+json": objectSchema})
	d.op("delete", "/accounts/{account}/tokens/{token}", "accounts", "revoke a token, on every node within seconds").sec(bearer).
		resp("204", "revoked", nil)

	html := map[string]any{"text/html": stringSchema}
	d.op("get", "/console", "console", "redirects to /console/").resp("301", "to /console/", nil)
	d.op("get", "/console/", "console", "the console page").resp("200", "the page", html)
	d.op("get", "/console/{file}", "console", "the page's script, style and icon").resp("200", "the file", map[string]any{"*/*": bytesSchema})
	d.op("get", "/console/api/storage", "console", "disk and content per face (admin)").sec(bearer).
		resp("200", "storage", jsonAPI("storage", d.s.of(api.ConsoleStorage{}), false))
	d.op("get", "/console/api/money", "console", "quoted, paid and accrued per day (admin)").sec(bearer).
		query("days", "integer", "1 to 366, default 14").resp("200", "the days, oldest first", jsonAPI("day", d.s.of(api.ConsoleDay{}), true))
	d.op("get", "/console/api/files", "console", "the files held here and their copies (admin)").sec(bearer).
		resp("200", "the files", jsonAPI("file", d.s.of(api.ConsoleFile{}), true))
	d.op("get", "/console/api/jobs", "console", "the newest compute jobs (admin)").sec(bearer).
		query("limit", "integer", "1 to 500, default 50").resp("200", "the jobs, newest first", jsonAPI("job", d.s.of(api.ConsoleJob{}), true))
	d.op("get", "/console/api/deals", "console", "the newest deals (admin)").sec(bearer).
		query("limit", "integer", "1 to 500, default 50").resp("200", "the deals, newest first", jsonAPI("deal", d.s.of(api.ConsoleDeal{}), true))
}

func dep7Routes(d *doc) {
	meta := d.s.of(api.AssetMetadata{})
	id := jsonOf(map[string]any{"type": "string", "description": "the asset id: hex SHA3-256 of the metadata's exact bytes"})
	readers := []string{bearer, basic, ""} // public assets need no credential
	d.op("post", "/api/v1/meta/data", "dep7", "register metadata (DEP-8); its id is the SHA3-256 of the bytes").sec(bearer, basic).
		body("the metadata document, kept byte for byte", jsonOf(meta)).resp("200", "the id", id)
	d.op("get", "/api/v1/meta/data", "dep7", "the ids of the assets the caller may read").sec(bearer, basic).
		resp("200", "ids", jsonOf(arrayOf(stringSchema)))
	d.op("get", "/api/v1/meta/data/", "dep7", "the ids of the assets the caller may read").sec(bearer, basic).
		resp("200", "ids", jsonOf(arrayOf(stringSchema)))
	d.op("put", "/api/v1/meta/data/{id}", "dep7", "register metadata under its id (it must be the SHA3-256 of the body)").sec(bearer, basic).
		body("the metadata", jsonOf(meta)).resp("200", "the id", id)
	d.op("get", "/api/v1/meta/data/{id}", "dep7", "the metadata, byte for byte").sec(readers...).resp("200", "the metadata", jsonOf(meta))
	d.op("delete", "/api/v1/meta/data/{id}", "dep7", "delete an asset (owner, admin)").sec(bearer, basic).resp("200", "deleted", jsonOf(anySchema))
	d.op("get", "/api/v1/meta/index", "dep7", "id → metadata of the assets the caller may read").sec(bearer, basic).
		resp("200", "the index", jsonOf(map[string]any{"type": "object", "additionalProperties": meta}))
	d.op("get", "/api/v1/meta/access/{id}", "dep7", "who may read the asset (owner, admin)").sec(bearer, basic).
		resp("200", "the access", jsonOf(d.s.of(api.AssetAccess{})))
	d.op("put", "/api/v1/meta/access/{id}", "dep7", "set who may read the asset: private, shared (principals) or public").sec(bearer, basic).
		body("the access", jsonOf(d.s.of(api.AssetAccess{}))).resp("200", "the access", jsonOf(d.s.of(api.AssetAccess{})))
	content := map[string]any{"application/octet-stream": bytesSchema}
	d.op("put", "/api/v1/assets/{id}", "dep7", "upload the content, checked against contentHash (SHA3-256) and size").sec(bearer, basic).
		body("the raw content", content).resp("200", "the id; Location names the content", id)
	d.op("post", "/api/v1/assets/{id}", "dep7", "upload the content as multipart form field 'file'").sec(bearer, basic).
		body("the content", map[string]any{"multipart/form-data": map[string]any{"type": "object", "properties": map[string]any{"file": bytesSchema}}}).
		resp("200", "the id", id)
	d.op("post", "/api/v1/assets", "dep7", "register and store a small asset in one request: multipart fields 'metadata' (first) and 'file'").sec(bearer, basic).
		body("the metadata and the content", map[string]any{"multipart/form-data": map[string]any{"type": "object",
			"properties": map[string]any{"metadata": meta, "file": bytesSchema}}}).
		resp("200", "the id", id)
	d.op("get", "/api/v1/assets/{id}", "dep7", "download the content (Content-Disposition, ETag, Range); storlets may run").sec(readers...).
		header("Range", "a byte range").resp("200", "the content", content).resp("206", "the range", content)
	d.op("delete", "/api/v1/assets/{id}", "dep7", "delete the content, keep the metadata (owner, admin)").sec(bearer, basic).resp("200", "deleted", jsonOf(anySchema))
	d.op("get", "/api/v1/auth/token", "dep7", "the caller's tokens").sec(basic, bearer).resp("200", "tokens", jsonOf(arrayOf(stringSchema)))
	d.op("post", "/api/v1/auth/token", "dep7", "make a token").sec(basic, bearer).resp("200", "the token", jsonOf(stringSchema))
	d.op("delete", "/api/v1/auth/revoke/{token}", "dep7", "revoke a token").sec(basic, bearer).resp("200", "true", jsonOf(map[string]any{"type": "boolean"}))
	d.op("post", "/api/v1/auth/revoke/{token}", "dep7", "revoke a token (for HTML forms)").sec(basic, bearer).resp("200", "true", jsonOf(map[string]any{"type": "boolean"}))
	d.op("get", "/api/status", "dep7", "the agent's status (DEP-11)").resp("200", "status", jsonOf(d.s.of(api.AssetStatus{})))
	d.op("get", "/api/ddo", "dep7", "the agent's DID document: its endpoints by service type").resp("200", "the DDO", jsonOf(d.s.of(api.AssetDDO{})))
}

func storletRoutes(d *doc) {
	for _, kind := range []struct {
		root, what string
		item, meta any
	}{
		{"/storlets", "storlet", api.Storlet{}, api.StorletMeta{}},
		{"/storlets/dependencies", "dependency", api.StorletDependency{}, api.StorletDependencyMeta{}},
		{"/dependencies", "dependency (alias of /storlets/dependencies)", api.StorletDependency{}, api.StorletDependencyMeta{}},
	} {
		item, meta := d.s.of(kind.item), d.s.of(kind.meta)
		op := func(method, path, summary string) *op {
			return d.op(method, kind.root+path, "storlets", summary+" (admin)").sec(bearer, xAuth)
		}
		op("get", "", "list every "+kind.what).resp("200", "the list", jsonOf(arrayOf(item)))
		op("post", "", "create a "+kind.what).body("its metadata", jsonOf(meta)).resp("201", "created", jsonOf(item))
		op("get", "/{id}", "a "+kind.what).resp("200", "it", jsonOf(item))
		op("put", "/{id}", "change a "+kind.what).body("metadata to change", jsonOf(meta)).resp("200", "changed", jsonOf(item))
		op("delete", "/{id}", "delete a "+kind.what).resp("204", "deleted", nil)
		code := map[string]any{"application/octet-stream": bytesSchema, "multipart/form-data": objectSchema}
		op("put", "/{id}/data", "upload a "+kind.what+"'s code or file").body("the bytes (WebAssembly for a storlet)", code).resp("200", "stored", jsonOf(item))
		op("post", "/{id}/data", "upload a "+kind.what+"'s code or file").body("the bytes", code).resp("200", "stored", jsonOf(item))
		op("get", "/{account}/deploy", "what is deployed to an account").resp("200", "the deployed", jsonOf(arrayOf(item)))
		dep := jsonOf(d.s.of(api.StorletDeployment{}))
		params := jsonOf(d.s.of(api.StorletDeploy{}))
		op("put", "/{account}/deploy/{id}", "deploy to an account").body("parameters", params).resp("200", "deployed", dep)
		op("post", "/{account}/deploy/{id}", "deploy to an account").body("parameters", params).resp("200", "deployed", dep)
		op("put", "/{account}/undeploy/{id}", "undeploy from an account").resp("200", "undeployed", dep)
		op("post", "/{account}/undeploy/{id}", "undeploy from an account").resp("200", "undeployed", dep)
	}
}

func oceanRoutes(d *doc) {
	signed := []string{oceanSig, oceanTok}
	consumer := func(o *op) *op {
		return o.query("consumerAddress", "string", "the consumer's 0x address").query("nonce", "string", "greater than the last one used")
	}
	d.op("get", "/", "ocean", "provider discovery (a browser asking text/html is sent to /console/)").
		resp("200", "the provider", jsonOf(d.s.of(api.OceanDiscovery{})))
	d.op("get", "/api/services/nonce", "ocean", "the last nonce an address used").required("userAddress", "string", "0x address").
		resp("200", "the nonce", jsonOf(d.s.of(api.OceanNonce{})))
	d.op("post", "/api/services/encrypt", "ocean", "ECIES-encrypt to the node's key (eciespy format)").query("chainId", "integer", "the chain").
		body("the plaintext", map[string]any{"application/octet-stream": bytesSchema}).resp("200", "hex ciphertext", map[string]any{textPlain: stringSchema})
	d.op("post", "/api/services/decrypt", "ocean", "decrypt a document for its publisher (signed)").sec(signed...).
		body("decrypterAddress, chainId, transactionId or encryptedDocument, flags, documentHash, dataNftAddress, nonce, signature", jsonOf(objectSchema)).
		resp("200", "the plaintext", map[string]any{textPlain: stringSchema})
	d.op("post", "/api/services/fileinfo", "ocean", "type, size and validity of a service's files or of one file object").
		body("the request", jsonOf(d.s.of(api.FileInfoRequest{}))).resp("200", "one entry per file", jsonOf(arrayOf(d.s.of(api.FileInfo{}))))
	consumer(d.op("get", "/api/services/initialize", "ocean", "the provider fee of a download, signed by the node").
		required("documentId", "string", "the DID").required("serviceId", "string", "the service").
		query("fileIndex", "integer", "a file").query("transferTxId", "string", "an earlier order, to reuse")).
		resp("200", "the fee, or validOrder for a reusable order", jsonOf(d.s.of(api.OceanInitialized{})))
	consumer(d.op("get", "/api/services/download", "ocean", "download a file of a paid order").sec(signed...).
		required("documentId", "string", "the DID").required("serviceId", "string", "the service").
		required("transferTxId", "string", "the order: a transaction hash on the DDO's chain, or a payment id").
		query("fileIndex", "integer", "which file")).
		resp("200", "the file", map[string]any{"application/octet-stream": bytesSchema})
	for _, m := range []string{"get", "post"} {
		d.op(m, "/api/services/createAuthToken", "ocean", "an auth token for an address (signed)").sec(oceanSig).
			required("address", "string", "0x address").required("expiration", "integer", "unix seconds").query("nonce", "string", "nonce").
			resp("200", "the token", jsonOf(d.s.of(api.OceanAuthToken{})))
	}
	for _, m := range []string{"delete", "post"} {
		d.op(m, "/api/services/deleteAuthToken", "ocean", "revoke an auth token (signed)").sec(oceanSig).
			required("address", "string", "0x address").required("token", "string", "the token").
			resp("200", "deleted", jsonOf(d.s.of(api.OceanTokenDeleted{})))
	}
	ddo := d.s.of(api.DDO{})
	d.op("post", "/api/aquarius/assets/ddo", "ocean", "publish a DDO on the node (Bearer of a user)").sec(bearer).
		body("the DDO (v4); its services' files encrypted with encrypt", jsonOf(ddo)).resp("201", "published", jsonOf(ddo))
	d.op("get", "/api/aquarius/assets/ddo", "ocean", "the published DDOs, oldest first").
		query("offset", "integer", "skip").query("limit", "integer", "at most").resp("200", "a page", jsonOf(d.s.of(api.DDOList{})))
	d.op("get", "/api/aquarius/assets/ddo/{did}", "ocean", "a DDO").resp("200", "the DDO", jsonOf(ddo))
	d.op("delete", "/api/aquarius/assets/ddo/{did}", "ocean", "unpublish a DDO (its publisher, admin)").sec(bearer).resp("200", "deleted", jsonOf(objectSchema))
	d.op("get", "/api/aquarius/assets/metadata/{did}", "ocean", "a DDO's metadata").resp("200", "the metadata", jsonOf(objectSchema))

	job := d.s.of(api.ComputeJob{})
	d.op("get", "/api/services/computeEnvironments", "compute", "the compute environments").query("chainId", "integer", "the chain").
		resp("200", "the environments", jsonOf(arrayOf(d.s.of(api.ComputeEnvironment{}))))
	d.op("post", "/api/services/initializeCompute", "compute", "provider fees of a job's dataset and algorithm").
		body("datasets, algorithm, compute environment and validity, consumer", jsonOf(d.s.of(api.ComputeInitialize{}))).
		resp("200", "the quotes", jsonOf(d.s.of(api.ComputeInitialized{})))
	d.op("post", "/api/services/compute", "compute", "start a job, signed by the consumer over consumerAddress + documentId + nonce").sec(signed...).
		body("the job", jsonOf(d.s.of(api.ComputeStart{}))).resp("200", "the job, queued", jsonOf(arrayOf(job)))
	consumer(d.op("get", "/api/services/compute", "compute", "a job by jobId (unsigned), or the consumer's jobs (signed)").sec(append(signed, "")...).
		query("jobId", "string", "a job").query("documentId", "string", "a dataset")).resp("200", "the jobs", jsonOf(arrayOf(job)))
	for _, m := range []struct{ method, what string }{{"put", "stop"}, {"delete", "delete"}} {
		consumer(d.op(m.method, "/api/services/compute", "compute", m.what+" the consumer's job (signed)").sec(signed...).
			query("jobId", "string", "the job").query("documentId", "string", "its dataset")).resp("200", "the jobs", jsonOf(arrayOf(job)))
	}
	consumer(d.op("get", "/api/services/computeResult", "compute", "a result of a job: an output or the algorithm's log (signed)").sec(signed...).
		required("jobId", "string", "the job").required("index", "integer", "the result's index")).
		resp("200", "the result", map[string]any{"application/octet-stream": bytesSchema})
}

func dealRoutes(d *doc) {
	env := jsonOf(d.s.of(api.DealEnvelope{}))
	form := map[string]any{"application/x-www-form-urlencoded": objectSchema, "multipart/form-data": objectSchema,
		"application/json": d.s.of(api.DealAccountRequest{}), "text/plain": stringSchema}
	order := map[string]any{"application/x-www-form-urlencoded": objectSchema, "multipart/form-data": objectSchema,
		"application/json": d.s.of(api.DealRequest{}), "text/plain": stringSchema, "application/yaml": stringSchema}
	d.op("get", "/api/v1/ping", "deals", "answers {}").resp("200", "{}", jsonOf(objectSchema))
	d.op("get", "/api/v1/time", "deals", "the server's time").resp("200", "milliseconds since the epoch", jsonOf(d.s.of(api.DealTime{})))
	d.op("get", "/api/v1/signature/key", "deals", "the module's OpenPGP public key, which signs every answer").
		resp("200", "armored key", map[string]any{"application/pgp-keys": stringSchema})
	d.op("get", "/api/v1/help", "deals", "the help text").resp("200", "help", env)
	d.op("post", "/api/v1/help", "deals", "the help text").resp("200", "help", env)
	d.op("get", "/api/v1/account/status", "deals", "an account's status").required("address", "string", "a Bitcoin address").resp("200", "the account", env)
	d.op("post", "/api/v1/account/status", "deals", "an account's status").body("address", form).resp("200", "the account", env)
	for _, a := range []struct{ name, what string }{
		{"new", "create an account (a Bitcoin signed message of the request)"}, {"add", "add a key or URL"}, {"update", "update an account"},
		{"delete", "delete an account"}, {"token", "a session: Session id and HMAC secret"},
	} {
		d.op("post", "/api/v1/account/"+a.name, "deals", a.what).sec(dealHMAC, bearer, "").body("the request", form).resp("200", "done", env)
	}
	d.op("post", "/api/v1/deal", "deals", "a deal order named by its 'order' parameter: create, pay, complete, cancel, feedback, status, confirm").
		sec(dealHMAC, bearer).body("the order", order).resp("200", "done; payload is the signed deal (YAML)", env)
	d.op("post", "/api/v1/deal/{order}", "deals", "a deal order: create, pay, complete, cancel, feedback, status, confirm").
		sec(dealHMAC, bearer).body("the order", order).resp("200", "done", env)
	d.op("post", "/api/v1/signature", "deals", "verify a Bitcoin signed message").
		body("address, message, signature", form).resp("200", "whether it verifies", env)
}

func internalRoutes(d *doc) {
	const p = "/internal/v1/"
	signed := func(method, path, summary string) *op {
		return d.op(method, p+path, "internal", summary).sec(nodeSig)
	}
	d.op("get", p+"hello", "internal", "the node's id and gossip address, for joining").resp("200", "who", jsonOf(objectSchema))
	signed("post", "confirm", "confirm and sign a price").body("the quote", jsonOf(objectSchema)).resp("200", "the signature", jsonOf(objectSchema))
	signed("post", "records", "merge a file's record; pull its content if missing").body("the record", jsonOf(objectSchema)).resp("200", "the merged record", jsonOf(objectSchema))
	signed("get", "records/{id}", "a file's record").resp("200", "the record", jsonOf(objectSchema))
	signed("get", "owners/{principal}/records", "a page of a principal's files held here, newest first").
		query("limit", "integer", "records at most (1 to 1000)").query("after_id", "string", "the last file of the previous page").
		query("after_created", "string", "its creation time (RFC 3339)").resp("200", "the records", jsonOf(objectSchema))
	signed("get", "blobs/{hash}", "a content by SHA-256").resp("200", "the bytes", map[string]any{"application/octet-stream": bytesSchema})
	signed("post", "accounts/events", "account events past what the caller has").body("the caller's positions", jsonOf(objectSchema)).resp("200", "the events", jsonOf(objectSchema))
	signed("post", "audit", "prove a copy: one leaf and its Merkle path").body("the file and leaf", jsonOf(objectSchema)).resp("200", "the proof", jsonOf(objectSchema))
	for _, m := range []string{"get", "head", "patch", "post"} {
		signed(m, "as/{principal}/{role}/{rest}", "a request forwarded for a principal: reads, info and PATCH of /files/{id}, payments").
			resp("200", "the answer, relayed verbatim", map[string]any{"*/*": bytesSchema})
	}
}
