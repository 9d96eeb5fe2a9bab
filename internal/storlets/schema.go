package storlets

// migrations are the face's tables, in the order they were added.
var migrations = []string{
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
}
