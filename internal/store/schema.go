package store

import "context"

// Schema is every table of the node, as one ordered list of each part's
// migrations. A part's steps are numbered from 1 under its component name in
// schema_migrations (the names are those of the releases that wrote them, so
// existing data directories open); steps are never edited once released, only
// appended, and a new part goes at the end. testdata/schema.*.sql shows the
// result.
var Schema = []Component{
	// node
	// The node's secrets are also kept in the metadata store, so that several
	// processes serving one node from one database (each with a data directory
	// of its own, on machines of their own) share its keys: a process whose
	// data directory lacks a secret takes the node's, and the first process
	// publishes what it created or found.
	{"node", []string{
		`CREATE TABLE node_secrets (
			name TEXT PRIMARY KEY, -- the file's name in a data directory
			value TEXT NOT NULL
		)`,
	}},
	// lease
	{"lease", []string{
		`CREATE TABLE leases (
			name TEXT PRIMARY KEY,
			holder TEXT NOT NULL,
			expires BIGINT NOT NULL -- Unix nanoseconds, wall clock
		)`,
	}},
	// blob
	{"blob", []string{
		`CREATE TABLE blobs (
			hash TEXT PRIMARY KEY,      -- lowercase hex SHA-256
			size INTEGER NOT NULL,
			refs INTEGER NOT NULL CHECK (refs >= 0)
		)`,
		// Where the backend keeps the object: '' is at its hash (a local
		// directory), otherwise the key it was uploaded under (S3).
		`ALTER TABLE blobs ADD COLUMN location TEXT NOT NULL DEFAULT ''`,
		`CREATE INDEX blobs_location ON blobs(location)`,
		// A small object's content, kept in its row rather than as a file
		// or bucket object of its own (Config.InlineMax); NULL otherwise.
		`ALTER TABLE blobs ADD COLUMN content BLOB`,
		// Only objects kept under a key of their own are looked up by
		// location, and only unreferenced ones are collected: index just
		// those rows, so that adding an object (refs 1, at its hash) writes
		// no index page but its key's, and collection reads no row in use.
		`DROP INDEX blobs_location;
		CREATE INDEX blobs_location ON blobs(location) WHERE location <> '';
		CREATE INDEX blobs_unreferenced ON blobs(hash) WHERE refs = 0;`,
		// The referenced objects and their bytes, kept by every change of a
		// count across 0 (Blobs.Ref, Unref), so that /metrics and the
		// console read one row instead of every object's (with small
		// objects inline, the whole content). No row while there are none
		// (dds meta copy wants an empty destination).
		`CREATE TABLE blob_totals (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			objects INTEGER NOT NULL,
			bytes INTEGER NOT NULL
		);
		INSERT INTO blob_totals(id, objects, bytes)
			SELECT 1, COUNT(*), SUM(size) FROM blobs WHERE refs > 0 HAVING COUNT(*) > 0;`,
	}},
	// auth
	{"auth", []string{
		`CREATE TABLE principals (
			id TEXT PRIMARY KEY,
			name TEXT NOT NULL UNIQUE,
			role TEXT NOT NULL,
			password_hash TEXT,
			created_at TEXT NOT NULL
		);
		CREATE TABLE tokens (
			hash TEXT PRIMARY KEY,          -- hex SHA-256 of the token: the token itself is never stored in clear
			principal_id TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
			label TEXT NOT NULL DEFAULT '',
			sealed BLOB NOT NULL,           -- the token sealed with the node secret, so its owner can list it
			created_at TEXT NOT NULL
		);
		CREATE INDEX tokens_principal ON tokens(principal_id);`,
		// Issue order, for listing tokens created at the same time in it
		// (was SQLite's rowid).
		Dialects(`ALTER TABLE tokens ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
		UPDATE tokens SET seq = rowid;`,
			`ALTER TABLE tokens ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;`),
	}},
	// auth
	{"auth-events", []string{
		`CREATE TABLE account_events (
			origin TEXT NOT NULL,
			seq INTEGER NOT NULL,
			body TEXT NOT NULL, -- the signed event, as received: relayed verbatim
			PRIMARY KEY (origin, seq)
		);
		CREATE TABLE revoked_tokens (
			hash TEXT PRIMARY KEY, -- kept so that a late "token" event cannot bring a revoked token back
			revoked_at TEXT NOT NULL
		);`,
	}},
	// ledger
	{"ledger", []string{
		`CREATE TABLE quotes (
			id TEXT PRIMARY KEY,
			file_id TEXT NOT NULL,
			kind TEXT NOT NULL,
			duration_s INTEGER NOT NULL,
			size INTEGER NOT NULL,
			price INTEGER NOT NULL,
			paid INTEGER NOT NULL DEFAULT 0,
			state TEXT NOT NULL,
			created_at TEXT NOT NULL,
			expires_at TEXT NOT NULL,
			paid_at TEXT,
			confirmations TEXT NOT NULL DEFAULT '[]'
		);
		CREATE INDEX quotes_file ON quotes(file_id, state);
		CREATE INDEX quotes_open ON quotes(state, expires_at);
		CREATE TABLE payments (
			id TEXT PRIMARY KEY,
			file_id TEXT NOT NULL DEFAULT '',
			quote_id TEXT NOT NULL DEFAULT '',
			status TEXT NOT NULL,
			amount INTEGER NOT NULL,
			idempotency_key TEXT UNIQUE,
			attrs TEXT NOT NULL DEFAULT '{}',
			created_at TEXT NOT NULL
		);
		CREATE INDEX payments_file ON payments(file_id);
		CREATE TABLE terms (
			file_id TEXT NOT NULL,
			quote_id TEXT NOT NULL,
			start_at TEXT NOT NULL,
			end_at TEXT NOT NULL,
			size INTEGER NOT NULL,
			price INTEGER NOT NULL,
			PRIMARY KEY (file_id, quote_id)
		);
		CREATE INDEX terms_span ON terms(end_at, start_at);`,
		// Orders for documents' services (Ocean provider face) are found by
		// their attributes.
		`CREATE INDEX payments_document ON payments(json_extract(attrs, '$.document_id'));`,
	}},
	// files
	{"dds", []string{
		`CREATE TABLE files (
			id TEXT PRIMARY KEY,
			owner_id TEXT NOT NULL,
			name TEXT NOT NULL,
			size INTEGER NOT NULL,
			content_hash TEXT NOT NULL,
			state TEXT NOT NULL,
			term_s INTEGER NOT NULL DEFAULT 0,
			additional TEXT NOT NULL DEFAULT '{}',
			created_at TEXT NOT NULL,
			stored_at TEXT,
			expires_at TEXT
		);
		CREATE INDEX files_state ON files(state, expires_at);
		CREATE INDEX files_owner ON files(owner_id);`,
		// The record travels with every copy (network's migration moves the
		// copies held for others into this table).
		`ALTER TABLE files ADD COLUMN confirmations TEXT NOT NULL DEFAULT '';
		ALTER TABLE files ADD COLUMN merkle_root TEXT NOT NULL DEFAULT '';
		ALTER TABLE files ADD COLUMN additional_at TEXT NOT NULL DEFAULT '';
		ALTER TABLE files ADD COLUMN additional_by TEXT NOT NULL DEFAULT '';
		CREATE INDEX files_hash ON files(content_hash, state);
		CREATE TABLE file_payments (
			file_id TEXT NOT NULL,
			payment_id TEXT NOT NULL,
			quote_id TEXT NOT NULL,
			amount INTEGER NOT NULL,
			price INTEGER NOT NULL,
			start_at TEXT NOT NULL,
			end_at TEXT NOT NULL,
			replicas INTEGER NOT NULL,
			PRIMARY KEY (file_id, payment_id)
		);
		CREATE TABLE file_holders (
			file_id TEXT NOT NULL,
			node_id TEXT NOT NULL,
			share INTEGER NOT NULL,
			state TEXT NOT NULL,
			taken_at TEXT NOT NULL,
			since TEXT NOT NULL,
			updated_at TEXT NOT NULL,
			PRIMARY KEY (file_id, node_id)
		);`,
		// An owner's files newest first (GET /files) read in index order, not
		// sorted in a temporary tree every time.
		`CREATE INDEX files_owner_created ON files(owner_id, created_at DESC, id)`,
		// The replication pass reads only the records changed (rev bumped,
		// settled_at cleared) or not checked since membership last changed,
		// not every stored file.
		`ALTER TABLE files ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
		ALTER TABLE files ADD COLUMN settled_at TEXT NOT NULL DEFAULT '';
		CREATE INDEX files_unsettled ON files(state, settled_at);`,
		// Fewer index pages written per upload (each is a page in the
		// commit's fsync): files_owner_created serves every owner lookup,
		// and the replication pass reads only stored files, so pending ones
		// need no entry in files_unsettled.
		`DROP INDEX files_owner;
		DROP INDEX files_unsettled;
		CREATE INDEX files_unsettled ON files(state, settled_at) WHERE state = 'stored';`,
		// The audit passes and the console read the stored files a page at
		// a time in id order, however many there are.
		`CREATE INDEX files_stored ON files(id) WHERE state = 'stored'`,
	}},
	// network
	{"replica", []string{
		`CREATE TABLE copies (
			file_id TEXT NOT NULL,
			node_id TEXT NOT NULL,
			state TEXT NOT NULL,
			expires_at TEXT NOT NULL DEFAULT '',
			updated_at TEXT NOT NULL,
			PRIMARY KEY (file_id, node_id)
		);
		CREATE TABLE replicas (
			file_id TEXT PRIMARY KEY,
			origin_id TEXT NOT NULL,
			content_hash TEXT NOT NULL,
			size INTEGER NOT NULL,
			name TEXT NOT NULL,
			expires_at TEXT NOT NULL,
			state TEXT NOT NULL,
			created_at TEXT NOT NULL
		);
		CREATE INDEX replicas_hash ON replicas(content_hash, state);
		CREATE INDEX replicas_expiry ON replicas(state, expires_at);`,
		// The files registry holds every record now: the copies held for others
		// become records (the housekeeper's next push fills in their owner and
		// payments), the origin's copies become the records' holders (this
		// node's own entry is added by its next pass).
		// (WHERE true: SQLite would read ON CONFLICT as a join's ON.)
		`INSERT INTO files(id,owner_id,name,size,content_hash,state,term_s,additional,created_at,stored_at,expires_at)
			SELECT file_id,'',name,size,content_hash,state,0,'{}',created_at,created_at,expires_at FROM replicas WHERE true
			ON CONFLICT DO NOTHING;
		INSERT INTO file_holders(file_id,node_id,share,state,taken_at,since,updated_at)
			SELECT file_id,node_id,ROW_NUMBER() OVER (PARTITION BY file_id ORDER BY node_id),state,updated_at,updated_at,updated_at FROM copies WHERE true
			ON CONFLICT DO NOTHING;
		DROP TABLE replicas;
		DROP TABLE copies;`,
		// Which version of each record a node is known to have: pushes stop
		// once every holder has the newest.
		`CREATE TABLE record_acks (
			file_id TEXT NOT NULL,
			node_id TEXT NOT NULL,
			digest TEXT NOT NULL,
			PRIMARY KEY (file_id, node_id)
		);`,
	}},
	// network
	{"audit", []string{
		`CREATE TABLE audits (
			file_id TEXT NOT NULL,
			node_id TEXT NOT NULL,   -- the holder audited
			at TEXT NOT NULL,
			leaf INTEGER NOT NULL,
			passed INTEGER NOT NULL, -- 1 passed, 0 failed
			detail TEXT NOT NULL DEFAULT '',
			PRIMARY KEY (file_id, node_id)  -- the last audit of each copy
		);
		CREATE TABLE audit_counts (
			result TEXT PRIMARY KEY, -- passed, failed
			count INTEGER NOT NULL
		);`,
		// The nonces of the signed node-to-node requests taken, until the
		// requests are too old to be taken anyway: every process of the node
		// refuses a replay.
		`CREATE TABLE request_nonces (
			node_id TEXT NOT NULL, -- the sender
			nonce TEXT NOT NULL,
			expires BIGINT NOT NULL, -- Unix nanoseconds
			PRIMARY KEY (node_id, nonce)
		);
		CREATE INDEX request_nonces_expires ON request_nonces(expires);`,
		// Payments taken by a process of the node that does not replicate,
		// for the one that does (it polls): their copies are placed at once,
		// not at its next periodic pass.
		`CREATE TABLE replication_wakes (
			file_id TEXT PRIMARY KEY
		);`,
		// The last file an audit pass reached: the next pass, in this
		// process or the next, goes on after it, so every file comes round
		// however often the node restarts.
		`CREATE TABLE audit_cursor (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			after_id TEXT NOT NULL
		);`,
	}},
	// storlets
	// migrations are the face's tables, in the order they were added.
	{"storlets", []string{
		`CREATE TABLE storlets (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			name TEXT NOT NULL UNIQUE,
			language TEXT NOT NULL,
			interface_version TEXT NOT NULL,
			dependency TEXT NOT NULL DEFAULT '',
			object_metadata TEXT NOT NULL DEFAULT 'no',
			main TEXT NOT NULL,
			data_hash TEXT,             -- blob of the module; NULL until uploaded
			data_size INTEGER,
			created_at TEXT NOT NULL
		);
		CREATE TABLE storlet_deployments (
			account TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
			storlet_id INTEGER NOT NULL REFERENCES storlets(id),
			params TEXT NOT NULL DEFAULT '',
			seq INTEGER NOT NULL,       -- deploy order within the account
			deployed_at TEXT NOT NULL,
			PRIMARY KEY (account, storlet_id)
		);
		CREATE INDEX storlet_deployments_storlet ON storlet_deployments(storlet_id);
		CREATE TABLE storlet_dependencies (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			name TEXT NOT NULL UNIQUE,
			version TEXT NOT NULL,
			permissions TEXT NOT NULL DEFAULT '',
			data_hash TEXT,
			data_size INTEGER,
			created_at TEXT NOT NULL
		);
		CREATE TABLE storlet_dependency_deployments (
			account TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
			dependency_id INTEGER NOT NULL REFERENCES storlet_dependencies(id),
			deployed_at TEXT NOT NULL,
			PRIMARY KEY (account, dependency_id)
		);
		CREATE INDEX storlet_dependency_deployments_dep ON storlet_dependency_deployments(dependency_id);`,
	}},
	// assets
	{"assets", []string{
		`CREATE TABLE assets (
			id TEXT PRIMARY KEY,            -- lowercase hex SHA3-256 of metadata
			owner_id TEXT NOT NULL,         -- the principal that registered it first
			metadata BLOB NOT NULL,         -- the exact bytes received
			name TEXT NOT NULL DEFAULT '',
			content_type TEXT NOT NULL DEFAULT '',
			content_hash TEXT NOT NULL DEFAULT '', -- declared SHA3-256 of the content, '' if none
			created_at TEXT NOT NULL,
			blob_hash TEXT,                 -- SHA-256 in the blob store; NULL until content is uploaded
			size INTEGER,
			sha3 TEXT,                      -- SHA3-256 of the uploaded content: the ETag
			uploaded_at TEXT
		);
		CREATE INDEX assets_blob ON assets(blob_hash);
		CREATE INDEX assets_owner ON assets(owner_id);`,
		// Who may read an asset (access.go); assets registered before were
		// readable by every principal, and become their owner's only.
		`ALTER TABLE assets ADD COLUMN access TEXT NOT NULL DEFAULT 'private';
		CREATE TABLE asset_shares (
			asset_id TEXT NOT NULL,
			principal_id TEXT NOT NULL,
			PRIMARY KEY(asset_id, principal_id)
		);`,
		// Registration order, for listings (was SQLite's rowid).
		Dialects(`ALTER TABLE assets ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
		UPDATE assets SET seq = rowid;
		CREATE INDEX assets_seq ON assets(seq);`,
			`ALTER TABLE assets ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
		CREATE INDEX assets_seq ON assets(seq);`),
		// A principal's listing reads its own assets, the public ones and
		// those shared with it from indexes, in registration order, rather
		// than every asset of the node.
		`DROP INDEX assets_owner;
		CREATE INDEX assets_owner_seq ON assets(owner_id, seq);
		CREATE INDEX assets_public_seq ON assets(seq) WHERE access = 'public';
		CREATE INDEX asset_shares_principal ON asset_shares(principal_id);`,
		// What --asset-quota and the metrics ask, kept as the assets change
		// rather than added up over every asset on each upload (inside its
		// write transaction) and scrape: each content some asset has, with
		// how many have it, and the totals. asset_contents is keyed by the
		// content, as assets_blob was, which only that sum used.
		`CREATE TABLE asset_contents (
			blob_hash TEXT PRIMARY KEY,
			assets BIGINT NOT NULL CHECK (assets > 0), -- assets that have this content
			size BIGINT NOT NULL
		) WITHOUT ROWID;
		INSERT INTO asset_contents(blob_hash, assets, size)
			SELECT blob_hash, COUNT(*), MAX(size) FROM assets WHERE blob_hash IS NOT NULL GROUP BY blob_hash;
		CREATE TABLE asset_totals (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			registered BIGINT NOT NULL,    -- assets
			with_content BIGINT NOT NULL,  -- assets with content
			content_bytes BIGINT NOT NULL  -- the sizes of asset_contents
		);
		INSERT INTO asset_totals(id, registered, with_content, content_bytes) -- no row: no assets
			SELECT 1, (SELECT COUNT(*) FROM assets), (SELECT COUNT(blob_hash) FROM assets),
				(SELECT COALESCE(SUM(size), 0) FROM asset_contents)
			WHERE EXISTS (SELECT 1 FROM assets);
		DROP INDEX assets_blob;`,
	}},
	// ocean
	{"provider", []string{
		`CREATE TABLE provider_nonces (
			address TEXT PRIMARY KEY, -- lowercase 0x address
			nonce TEXT NOT NULL,      -- the last nonce used, as the client sent it
			updated_at TEXT NOT NULL
		);
		CREATE TABLE provider_ddos (
			did TEXT PRIMARY KEY,
			owner_id TEXT NOT NULL,   -- the principal that published it
			doc TEXT NOT NULL,        -- the DDO as stored (JSON)
			created_at TEXT NOT NULL
		);
		CREATE INDEX provider_ddos_created ON provider_ddos(created_at, did);
		CREATE TABLE provider_revoked_tokens (
			token_hash TEXT PRIMARY KEY, -- hex SHA-256 of the JWT
			expires_at TEXT NOT NULL
		);`,
	}},
	// ocean
	// The DDOs read from the chains and how far each chain was scanned are kept,
	// so that a restart reads only the blocks that came since.
	{"provider_chain", []string{
		`CREATE TABLE provider_chain_ddos (
			chain_id INTEGER NOT NULL,
			did TEXT NOT NULL,
			doc TEXT NOT NULL, -- the DDO as its last metadata event carried it (JSON)
			state INTEGER NOT NULL, -- the metadata state its NFT last set
			PRIMARY KEY (chain_id, did)
		);
		CREATE TABLE provider_chain_scans (
			chain_id INTEGER PRIMARY KEY,
			next_block INTEGER NOT NULL -- the blocks below it were scanned
		);`,
	}},
	// ocean
	{"compute", []string{
		`CREATE TABLE compute_jobs (
			id TEXT PRIMARY KEY,
			owner TEXT NOT NULL,        -- lowercase 0x address of the consumer
			did TEXT NOT NULL,          -- the main dataset
			environment TEXT NOT NULL,
			spec TEXT NOT NULL,         -- the validated request (JSON): datasets, algorithm, custom data
			status INTEGER NOT NULL,
			error TEXT NOT NULL DEFAULT '',
			created_at TEXT NOT NULL,
			finished_at TEXT,
			expires_at TEXT             -- when a finished job and its results are deleted
		);
		CREATE INDEX compute_jobs_owner ON compute_jobs(owner, created_at);
		CREATE INDEX compute_jobs_queue ON compute_jobs(environment, status, created_at);
		CREATE INDEX compute_jobs_expiry ON compute_jobs(expires_at);
		CREATE TABLE compute_results (
			job_id TEXT NOT NULL,
			idx INTEGER NOT NULL,
			name TEXT NOT NULL,
			type TEXT NOT NULL,         -- output | algorithmLog
			size INTEGER NOT NULL,
			hash TEXT NOT NULL,         -- blob store object
			PRIMARY KEY (job_id, idx)
		);`,
		// Submission order, for jobs submitted at the same time (was SQLite's
		// rowid).
		Dialects(`ALTER TABLE compute_jobs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
		UPDATE compute_jobs SET seq = rowid;`,
			`ALTER TABLE compute_jobs ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;`),
	}},
	// deals
	{"deals", []string{
		`CREATE TABLE deal_accounts (
			address TEXT PRIMARY KEY,             -- Bitcoin address: the account's name
			principal_id TEXT NOT NULL UNIQUE,    -- the node principal it maps onto
			pubkey TEXT NOT NULL DEFAULT '',      -- hex, matches the address
			pgp TEXT NOT NULL DEFAULT '',
			bitmessage TEXT NOT NULL DEFAULT '[]',
			email TEXT NOT NULL DEFAULT '',
			account_urls TEXT NOT NULL DEFAULT '[]',
			trusted_urls TEXT NOT NULL DEFAULT '[]',
			feedback_total INTEGER NOT NULL DEFAULT 0,
			feedback_positive INTEGER NOT NULL DEFAULT 0,
			created_at TEXT NOT NULL,
			updated_at TEXT NOT NULL
		);
		CREATE TABLE deal_sessions (
			id TEXT PRIMARY KEY,                  -- the Session header
			principal_id TEXT NOT NULL,
			secret BLOB NOT NULL,                 -- the HMAC key, sealed (AES-GCM) with a key derived from the node key
			created_at TEXT NOT NULL
		);
		CREATE INDEX deal_sessions_principal ON deal_sessions(principal_id);
		CREATE TABLE deal_nonces (                -- HMAC nonces seen within the window: no replay
			session_id TEXT NOT NULL,
			nonce INTEGER NOT NULL,
			seen_at TEXT NOT NULL,
			PRIMARY KEY (session_id, nonce)
		);
		CREATE INDEX deal_nonces_seen ON deal_nonces(seen_at);
		CREATE TABLE deal_signed (                -- Bitcoin-signed account requests accepted: no replay
			hash TEXT PRIMARY KEY,
			used_at TEXT NOT NULL,
			keep_until TEXT                       -- NULL: for ever (token codes carry no date)
		);
		CREATE TABLE deals (
			id TEXT PRIMARY KEY,                  -- hex SHA-256 of the canonical deal text, first 16 bytes
			state TEXT NOT NULL,
			type TEXT NOT NULL,
			at TEXT NOT NULL,
			date TEXT NOT NULL,
			seller TEXT NOT NULL,
			customer TEXT NOT NULL,
			sum_sat INTEGER NOT NULL,
			until_at TEXT NOT NULL,
			leave_before TEXT NOT NULL,
			file_id TEXT NOT NULL DEFAULT '',
			file_amount INTEGER NOT NULL DEFAULT 0, -- base units the deal pays the ledger for the file
			canonical TEXT NOT NULL,
			address TEXT NOT NULL UNIQUE,
			witness_script TEXT NOT NULL,
			redeem_script TEXT NOT NULL,
			module_key TEXT NOT NULL,
			txid TEXT NOT NULL DEFAULT '',
			feedback_status TEXT NOT NULL DEFAULT '',
			feedback_comments TEXT NOT NULL DEFAULT '',
			created_by TEXT NOT NULL,
			created_at TEXT NOT NULL,
			updated_at TEXT NOT NULL
		);
		CREATE INDEX deals_seller ON deals(seller);
		CREATE INDEX deals_customer ON deals(customer);
		CREATE TABLE deal_events (                -- every transition, for the record
			deal_id TEXT NOT NULL REFERENCES deals(id),
			at TEXT NOT NULL,
			action TEXT NOT NULL,
			principal_id TEXT NOT NULL,
			detail TEXT NOT NULL DEFAULT ''
		);
		CREATE INDEX deal_events_deal ON deal_events(deal_id);`,
		`CREATE TABLE deal_payments (             -- outputs paying a deal's escrow, as the Bitcoin node last saw them
			txid TEXT NOT NULL,
			vout INTEGER NOT NULL,
			deal_id TEXT NOT NULL REFERENCES deals(id),
			amount_sat INTEGER NOT NULL,
			pk_script TEXT NOT NULL,              -- hex
			confirmations INTEGER NOT NULL,       -- 0: in the mempool
			gone INTEGER NOT NULL DEFAULT 0,      -- 1: left the chain and the mempool (a reorg)
			late INTEGER NOT NULL DEFAULT 0,      -- 1: first seen after payment.until: not a payment of the deal
			seen_at TEXT NOT NULL,                -- first seen
			PRIMARY KEY (txid, vout)
		);
		CREATE INDEX deal_payments_deal ON deal_payments(deal_id);
		ALTER TABLE deals ADD COLUMN spend_kind TEXT NOT NULL DEFAULT '';   -- release or refund, once asked for
		ALTER TABLE deals ADD COLUMN spend_psbt TEXT NOT NULL DEFAULT '';   -- base64, signed by the module key
		ALTER TABLE deals ADD COLUMN spend_txid TEXT NOT NULL DEFAULT '';   -- once broadcast`,
	}},
}

// Component is one part's migrations.
type Component struct {
	Name  string
	Steps []string
}

// MigrateAll brings the database to Schema (or to the components given).
func (db *DB) MigrateAll(ctx context.Context, schema ...Component) error {
	if schema == nil {
		schema = Schema
	}
	for _, c := range schema {
		if err := db.Migrate(ctx, c.Name, c.Steps); err != nil {
			return err
		}
	}
	return nil
}

// OpenSchema opens dsn (see Open) and brings it to Schema.
func OpenSchema(ctx context.Context, dsn string) (*DB, error) {
	db, err := Open(dsn)
	if err != nil {
		return nil, err
	}
	if err := db.MigrateAll(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
