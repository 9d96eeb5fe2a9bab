// Package persist keeps every part's records in the node's metadata
// database. Each part (a spine part or a face) declares the Store it needs
// in its own package and in its own terms; a type here implements it, with
// all of that part's SQL: Files is files.Store, Assets is assets.Store, and
// so on. The node wires them.
//
// One package serves both backends. SQLite and PostgreSQL run the same
// statements through internal/store, which binds placeholders, translates
// the DDL and classifies errors for each; the schema, every migration of
// every part in one ordered list, is store.Schema.
//
// persist sits above the parts, beside internal/node: it imports the spine
// parts and the faces whose Stores it implements (for their domain types),
// and only node (and the test harness) imports it. No part imports persist,
// so no part learns of another through it.
//
// Transactions travel in the context (store.DB.InTx): a Store method called
// with the context an InTx callback received joins that transaction, so a
// part can make several writes, or writes of two parts, atomic without ever
// holding a SQL transaction.
package persist
