package storlets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/sandbox"
	"github.com/prometheus-dds/dds/internal/store"
)

// maxMeta bounds a metadata document.
const maxMeta = 64 << 10

// Register adds the face's routes. The spec's paths overlap in ways Go's
// pattern router refuses (/storlets/dependencies/{id}/data against
// /storlets/{account}/deploy/{id}), so the face routes below /storlets
// itself. /dependencies is an alias of /storlets/dependencies.
func (s *Service) Register(mux *http.ServeMux) {
	for _, p := range []string{"/storlets", "/storlets/", "/dependencies", "/dependencies/"} {
		mux.HandleFunc(p, s.serve)
	}
}

// Error is the face's error body: the spec asks only for JSON.
type Error struct {
	Error   string `json:"error"`   // machine code
	Message string `json:"message"` // what is wrong and what to do
}

func (s *Service) writeError(w http.ResponseWriter, err error) {
	e, ok := apierr.As(err)
	if !ok {
		s.log.Error("storlets request failed", "err", err)
	}
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, Error{Error: e.Code, Message: e.Detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// route is one endpoint: a method and a path shape, where "*" matches any
// one segment.
type route struct {
	method string
	shape  []string
	h      handler
}

type handler func(w http.ResponseWriter, r *http.Request, args []string) error

// endpoints are the handlers of one resource kind: storlets and dependencies
// have the same paths.
type endpoints struct {
	list, create, get, update, delete, upload, listDeployed, deploy, undeploy handler
}

func (e endpoints) routes() []route {
	return []route{
		{"GET", nil, e.list},
		{"POST", nil, e.create},
		{"GET", []string{"*"}, e.get},
		{"PUT", []string{"*"}, e.update},
		{"DELETE", []string{"*"}, e.delete},
		{"PUT", []string{"*", "data"}, e.upload},
		{"POST", []string{"*", "data"}, e.upload}, // the spec's example uses POST
		{"GET", []string{"*", "deploy"}, e.listDeployed},
		{"PUT", []string{"*", "deploy", "*"}, e.deploy},
		{"POST", []string{"*", "deploy", "*"}, e.deploy},
		{"PUT", []string{"*", "undeploy", "*"}, e.undeploy},
		{"POST", []string{"*", "undeploy", "*"}, e.undeploy},
	}
}

func (s *Service) routes() (storlets, deps []route) {
	// on binds a handler both kinds share to s.
	on := func(h func(*Service, http.ResponseWriter, *http.Request, []string) error) handler {
		return func(w http.ResponseWriter, r *http.Request, args []string) error { return h(s, w, r, args) }
	}
	storlets = endpoints{
		list: on(storletKind.list), create: s.createStorlet, get: on(storletKind.get), update: s.updateStorlet,
		delete: on(storletKind.delete), upload: s.uploadStorlet,
		listDeployed: s.listDeployedStorlets, deploy: s.deployStorlet, undeploy: on(storletKind.undeploy),
	}.routes()
	deps = endpoints{
		list: on(depKind.list), create: s.createDep, get: on(depKind.get), update: s.updateDep,
		delete: on(depKind.delete), upload: s.uploadDep,
		listDeployed: s.listDeployedDeps, deploy: s.deployDep, undeploy: on(depKind.undeploy),
	}.routes()
	return
}

// segments splits the path below the face's root, ignoring one trailing
// slash (the spec writes most paths with one).
func segments(path string) (deps bool, segs []string) {
	path = strings.TrimSuffix(path, "/")
	switch {
	case path == "/dependencies" || strings.HasPrefix(path, "/dependencies/"):
		deps, path = true, strings.TrimPrefix(path, "/dependencies")
	case path == "/storlets/dependencies" || strings.HasPrefix(path, "/storlets/dependencies/"):
		deps, path = true, strings.TrimPrefix(path, "/storlets/dependencies")
	default:
		path = strings.TrimPrefix(path, "/storlets")
	}
	path = strings.TrimPrefix(path, "/")
	if path == "" {
		return deps, nil
	}
	return deps, strings.Split(path, "/")
}

func match(shape, segs []string) bool {
	if len(shape) != len(segs) {
		return false
	}
	for i, p := range shape {
		if segs[i] == "" || (p != "*" && p != segs[i]) {
			return false
		}
	}
	return true
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	isDeps, segs := segments(r.URL.Path)
	storletRoutes, depRoutes := s.routes()
	table := storletRoutes
	if isDeps {
		table = depRoutes
	}
	var allowed []string
	var found *route
	for i := range table {
		if match(table[i].shape, segs) {
			allowed = append(allowed, table[i].method)
			if table[i].method == r.Method {
				found = &table[i]
			}
		}
	}
	if len(allowed) == 0 {
		s.writeError(w, apierr.NotFound("no such resource %s", r.URL.Path))
		return
	}
	if _, err := s.admin(r); err != nil {
		s.writeError(w, err)
		return
	}
	if found == nil {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.writeError(w, apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
		return
	}
	var args []string
	for i, p := range found.shape {
		if p == "*" {
			args = append(args, segs[i])
		}
	}
	if err := found.h(w, r, args); err != nil {
		s.writeError(w, err)
	}
}

// admin authenticates the caller by X-Auth-Token (as the spec says) or a
// bearer token, and requires the admin role.
func (s *Service) admin(r *http.Request) (auth.Principal, error) {
	tok := strings.TrimSpace(r.Header.Get("X-Auth-Token"))
	if tok == "" {
		tok = auth.TokenFromHeader(r, "Bearer")
	}
	if tok == "" {
		return auth.Principal{}, apierr.Unauthorized("send an admin token in X-Auth-Token")
	}
	p, err := s.auth.Authenticate(r.Context(), tok)
	if err != nil {
		return auth.Principal{}, err
	}
	if !p.IsAdmin() {
		return auth.Principal{}, apierr.Forbidden("the storlets controller needs an admin token")
	}
	return p, nil
}

func parseID(kind, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, apierr.NotFound("no %s %q (ids are positive integers)", kind, s)
	}
	return id, nil
}

// createdAt renders times as the spec does: "2013-03-08 10:36:41.997", UTC.
func createdAt(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

// boolString renders booleans as the spec does: "true" and "false".
func boolString(b bool) string { return strconv.FormatBool(b) }

// StorletJSON is a storlet as the API renders it.
type StorletJSON struct {
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

func storletJSON(st Storlet) StorletJSON {
	return StorletJSON{ID: st.ID, Name: st.Name, Language: st.Language, InterfaceVersion: st.InterfaceVersion,
		Dependency: st.Dependency, ObjectMetadata: st.ObjectMetadata, Main: st.Main, CreatedAt: createdAt(st.Created),
		Deployed: boolString(st.Deployed), HasData: st.DataHash != "", DataSize: st.DataSize, DataSHA256: st.DataHash}
}

// DependencyJSON is a dependency as the API renders it.
type DependencyJSON struct {
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

func depJSON(d Dependency) DependencyJSON {
	return DependencyJSON{ID: d.ID, Name: d.Name, Version: d.Version, Permissions: d.Permissions, CreatedAt: createdAt(d.Created),
		Deployed: boolString(d.Deployed), HasData: d.DataHash != "", DataSize: d.DataSize, DataSHA256: d.DataHash}
}

// storletMeta is the metadata a client sends. Pointers tell absent fields
// from empty ones; the read-only fields are accepted (a client may send back
// what it got) and ignored.
type storletMeta struct {
	Name             *string `json:"name"`
	Language         *string `json:"language"`
	InterfaceVersion *string `json:"interface_version"`
	Dependency       *string `json:"dependency"`
	ObjectMetadata   *string `json:"object_metadata"`
	Main             *string `json:"main"`

	readOnly
}

type depMeta struct {
	Name        *string `json:"name"`
	Version     *string `json:"version"`
	Permissions *string `json:"permissions"`

	readOnly
}

// readOnly are the rendered fields a client may send back; they are ignored.
type readOnly struct {
	ID        any `json:"id"`
	CreatedAt any `json:"created_at"`
	Deployed  any `json:"deployed"`
	HasData   any `json:"has_data"`
	DataSize  any `json:"data_size"`
	DataSHA   any `json:"data_sha256"`
}

// decodeMeta reads a JSON object of at most maxMeta bytes, refusing unknown
// fields by name.
func decodeMeta(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMeta))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "a metadata document may not exceed %d bytes", maxMeta)
		}
		return err
	}
	return parseMeta(body, v)
}

func parseMeta(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return apierr.BadRequest("missing_body", "send the metadata as a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return apierr.BadRequest("invalid_field", "field %q must be a %s", te.Field, te.Type.String()).At("/" + te.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return apierr.BadRequest("unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return apierr.BadRequest("invalid_json", "the body is not a JSON object: %v", err)
	}
	if dec.More() {
		return apierr.BadRequest("invalid_json", "the body holds more than one JSON value")
	}
	return nil
}

func deref(p *string, def string) string {
	if p == nil {
		return def
	}
	return strings.TrimSpace(*p)
}

// apply checks a storlet's metadata and applies m to it.
func (m storletMeta) apply(st *Storlet) error {
	st.Name = deref(m.Name, st.Name)
	if err := checkName("storlet", st.Name); err != nil {
		return err
	}
	lang := deref(m.Language, st.Language)
	if !strings.EqualFold(lang, Language) {
		return apierr.BadRequest("unsupported_language", "language %q is not supported; supported languages: %q (a WASI preview 1 command module, from any source language)", lang, Language).At("/language")
	}
	st.Language = Language
	st.InterfaceVersion = deref(m.InterfaceVersion, st.InterfaceVersion)
	if st.InterfaceVersion != InterfaceVersion {
		return apierr.BadRequest("unsupported_interface_version", "interface_version %q is not supported; use %q", st.InterfaceVersion, InterfaceVersion).At("/interface_version")
	}
	st.Dependency = deref(m.Dependency, st.Dependency)
	if len(st.Dependency) > 4096 {
		return apierr.BadRequest("invalid_field", "dependency is too long").At("/dependency")
	}
	for _, d := range st.Deps() {
		if err := checkName("dependency", d); err != nil {
			return apierr.BadRequest("invalid_field", "dependency: %q is not a dependency name", d).At("/dependency")
		}
	}
	st.ObjectMetadata = deref(m.ObjectMetadata, st.ObjectMetadata)
	if len(st.ObjectMetadata) > 64 {
		return apierr.BadRequest("invalid_field", "object_metadata is too long; use \"no\"").At("/object_metadata")
	}
	st.Main = deref(m.Main, st.Main)
	if st.Main == "" || len(st.Main) > 256 {
		return apierr.BadRequest("invalid_field", "main names the exported function to run, usually \"_start\"").At("/main")
	}
	return nil
}

func (m depMeta) apply(d *Dependency) error {
	d.Name = deref(m.Name, d.Name)
	if err := checkName("dependency", d.Name); err != nil {
		return err
	}
	d.Version = deref(m.Version, d.Version)
	if d.Version == "" || len(d.Version) > 64 {
		return apierr.BadRequest("invalid_field", "version must be 1 to 64 characters").At("/version")
	}
	d.Permissions = deref(m.Permissions, d.Permissions)
	if d.Permissions != "" {
		if _, err := strconv.ParseUint(d.Permissions, 8, 12); err != nil || len(d.Permissions) > 4 {
			return apierr.BadRequest("invalid_field", "permissions must be an octal mode such as \"0755\"").At("/permissions")
		}
	}
	return nil
}

func uniqueErr(err error, kind, name string) error {
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return apierr.Conflict("name_taken", "a %s named %q exists already", kind, name).At("/name")
	}
	return err
}

// --- shared by storlets and dependencies ---

// kind describes what storlets and dependencies share: a table of records
// with uploaded data, and a table deploying them to accounts. T is the
// record, J how the API renders it.
type kind[T record, J any] struct {
	noun        string // in messages and logs
	root        string // the URL root, for hints in messages
	table       string
	alias       string // of table in cols
	cols        string
	scan        func(scanner, ...any) (T, error)
	render      func(T) J
	deployments string // the table deploying it
	idCol       string // the column of deployments naming it
	uploadWhat  string // what the no-data hint says to upload
}

// record is what the shared handlers read of a storlet or a dependency.
type record interface{ dataHash() string }

func (st Storlet) dataHash() string   { return st.DataHash }
func (d Dependency) dataHash() string { return d.DataHash }

var storletKind = kind[Storlet, StorletJSON]{
	noun: "storlet", root: "/storlets", table: "storlets", alias: "s", cols: storletCols,
	scan: scanStorlet, render: storletJSON,
	deployments: "storlet_deployments", idCol: "storlet_id", uploadWhat: "its module",
}

var depKind = kind[Dependency, DependencyJSON]{
	noun: "dependency", root: "/storlets/dependencies", table: "storlet_dependencies", alias: "p", cols: depCols,
	scan: scanDep, render: depJSON,
	deployments: "storlet_dependency_deployments", idCol: "dependency_id", uploadWhat: "it",
}

func (k kind[T, J]) find(ctx context.Context, q querier, where string, arg any) (T, error) {
	rec, err := k.scan(q.QueryRowContext(ctx, `SELECT `+k.cols+` FROM `+k.table+` `+k.alias+` WHERE `+where, arg))
	if errors.Is(err, store.ErrNotFound) {
		return rec, apierr.NotFound("no %s %v", k.noun, arg)
	}
	return rec, err
}

func (k kind[T, J]) byID(ctx context.Context, q querier, id int64) (T, error) {
	return k.find(ctx, q, k.alias+".id=?", id)
}

// row renders one row of a query that selects k.cols.
func (k kind[T, J]) row(sc scanner) (J, error) {
	rec, err := k.scan(sc)
	if err != nil {
		var zero J
		return zero, err
	}
	return k.render(rec), nil
}

func (k kind[T, J]) list(s *Service, w http.ResponseWriter, r *http.Request, _ []string) error {
	return writeList(s, w, r, k.row, `SELECT `+k.cols+` FROM `+k.table+` `+k.alias+` ORDER BY `+k.alias+`.id`)
}

// writeList answers with the rows q selects, each rendered by row.
func writeList[J any](s *Service, w http.ResponseWriter, r *http.Request, row func(scanner) (J, error), q string, args ...any) error {
	rows, err := s.db.QueryContext(r.Context(), q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []J{}
	for rows.Next() {
		j, err := row(rows)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (k kind[T, J]) get(s *Service, w http.ResponseWriter, r *http.Request, args []string) error {
	id, err := parseID(k.noun, args[0])
	if err != nil {
		return err
	}
	rec, err := k.byID(r.Context(), s.db, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k.render(rec))
	return nil
}

// delete refuses (409) while the record is deployed: deleting it would
// silently change what the accounts it is deployed to read. Undeploy first.
func (k kind[T, J]) delete(s *Service, w http.ResponseWriter, r *http.Request, args []string) error {
	id, err := parseID(k.noun, args[0])
	if err != nil {
		return err
	}
	err = s.db.Tx(r.Context(), func(tx *store.Tx) error {
		rec, err := k.byID(r.Context(), tx, id)
		if err != nil {
			return err
		}
		if accounts := deployedTo(tx, `SELECT account FROM `+k.deployments+` WHERE `+k.idCol+`=? ORDER BY account`, id); len(accounts) > 0 {
			return apierr.Conflict("deployed", "%s %d is deployed to %s; undeploy it first (PUT %s/<account>/undeploy/%d)", k.noun, id, strings.Join(accounts, ", "), k.root, id)
		}
		if _, err := tx.Exec(`DELETE FROM `+k.table+` WHERE id=?`, id); err != nil {
			return err
		}
		if rec.dataHash() != "" {
			return s.blobs.Unref(tx, rec.dataHash())
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info(k.noun+" deleted", k.noun, id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deployedTo lists up to 10 accounts for an error message.
func deployedTo(tx *store.Tx, q string, id int64) []string {
	rows, err := tx.Query(q+` LIMIT 10`, id)
	if err != nil {
		return []string{"(unknown accounts)"}
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if rows.Scan(&a) == nil {
			out = append(out, a)
		}
	}
	return out
}

// setData points a record at its newly stored data, releasing the data it
// replaces. It runs in the transaction that commits the blob.
func (k kind[T, J]) setData(s *Service, tx *store.Tx, id int64, old string, staged *blob.Staged) error {
	if old != "" {
		if err := s.blobs.Unref(tx, old); err != nil {
			return err
		}
	}
	_, err := tx.Exec(`UPDATE `+k.table+` SET data_hash=?, data_size=? WHERE id=?`, staged.Hash, staged.Size, id)
	return err
}

// target reads the account and the record id of a deploy or undeploy path.
func (k kind[T, J]) target(s *Service, r *http.Request, args []string) (auth.Principal, int64, error) {
	acct, err := s.account(r.Context(), args[0])
	if err != nil {
		return auth.Principal{}, 0, err
	}
	id, err := parseID(k.noun, args[1])
	return acct, id, err
}

// deployTx runs insert, which adds the deployment row, once the record is
// known to have data.
func (k kind[T, J]) deployTx(s *Service, r *http.Request, id int64, insert func(tx *store.Tx) error) (rec T, err error) {
	err = s.db.Tx(r.Context(), func(tx *store.Tx) error {
		if rec, err = k.byID(r.Context(), tx, id); err != nil {
			return err
		}
		if rec.dataHash() == "" {
			return apierr.Conflict("no_data", "%s %d has no data yet; upload %s first (PUT %s/%d/data)", k.noun, id, k.uploadWhat, k.root, id)
		}
		return insert(tx)
	})
	return rec, err
}

func (k kind[T, J]) undeploy(s *Service, w http.ResponseWriter, r *http.Request, args []string) error {
	acct, id, err := k.target(s, r, args)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(r.Context(), `DELETE FROM `+k.deployments+` WHERE account=? AND `+k.idCol+`=?`, acct.ID, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apierr.NotFound("%s %d is not deployed to account %s", k.noun, id, acct.ID)
	}
	s.log.Info(k.noun+" undeployed", k.noun, id, "account", acct.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- storlets ---

func (s *Service) createStorlet(w http.ResponseWriter, r *http.Request, _ []string) error {
	var m storletMeta
	if err := decodeMeta(w, r, &m); err != nil {
		return err
	}
	if m.Name == nil {
		return apierr.BadRequest("missing_field", "field \"name\" is required").At("/name")
	}
	st := Storlet{Language: Language, InterfaceVersion: InterfaceVersion, ObjectMetadata: "no", Main: "_start", Created: s.clock.Now()}
	if err := m.apply(&st); err != nil {
		return err
	}
	res, err := s.db.ExecContext(r.Context(), `INSERT INTO storlets(name,language,interface_version,dependency,object_metadata,main,created_at) VALUES(?,?,?,?,?,?,?)`,
		st.Name, st.Language, st.InterfaceVersion, st.Dependency, st.ObjectMetadata, st.Main, store.Time(st.Created))
	if err != nil {
		return uniqueErr(err, "storlet", st.Name)
	}
	st.ID, _ = res.LastInsertId()
	s.log.Info("storlet created", "storlet", st.ID, "name", st.Name)
	writeJSON(w, http.StatusCreated, storletJSON(st))
	return nil
}

func (s *Service) updateStorlet(w http.ResponseWriter, r *http.Request, args []string) error {
	id, err := parseID("storlet", args[0])
	if err != nil {
		return err
	}
	var m storletMeta
	if err := decodeMeta(w, r, &m); err != nil {
		return err
	}
	cur, err := storletKind.byID(r.Context(), s.db, id)
	if err != nil {
		return err
	}
	st := cur
	if err := m.apply(&st); err != nil {
		return err
	}
	if st.DataHash != "" && st.Main != cur.Main {
		// A new main must be a function the uploaded module exports.
		if _, err := s.module(r.Context(), st.DataHash, st.Main); err != nil {
			return dataError(err)
		}
	}
	err = s.db.Tx(r.Context(), func(tx *store.Tx) error {
		now, err := storletKind.byID(r.Context(), tx, id)
		if err != nil {
			return err
		}
		if now.DataHash != cur.DataHash || now.Main != cur.Main {
			return apierr.Conflict("concurrent_change", "storlet %d changed while this request ran; retry it", id)
		}
		st.Deployed = now.Deployed
		_, err = tx.Exec(`UPDATE storlets SET name=?,language=?,interface_version=?,dependency=?,object_metadata=?,main=? WHERE id=?`,
			st.Name, st.Language, st.InterfaceVersion, st.Dependency, st.ObjectMetadata, st.Main, st.ID)
		return uniqueErr(err, "storlet", st.Name)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, storletJSON(st))
	return nil
}

// uploadStorlet validates and compiles the module before storing it: a file
// that is not a module this node can run is refused with the reason. Modules
// are small (MaxModule), so the bytes are read into memory to compile them.
func (s *Service) uploadStorlet(w http.ResponseWriter, r *http.Request, args []string) error {
	id, err := parseID("storlet", args[0])
	if err != nil {
		return err
	}
	st, err := storletKind.byID(r.Context(), s.db, id)
	if err != nil {
		return err
	}
	max := s.rt.Limits().MaxModule
	src, closeSrc, err := dataReader(w, r, max+1)
	if err != nil {
		return err
	}
	defer closeSrc()
	wasm, err := readAllLimit(src, max)
	if err != nil {
		return uploadError(err, max)
	}
	mod, err := s.rt.Compile(r.Context(), wasm, st.Main)
	if err != nil {
		return dataError(err)
	}
	staged, err := s.blobs.Stage(bytes.NewReader(wasm), -1)
	if err != nil {
		mod.Close(r.Context())
		return uploadError(err, max)
	}
	defer staged.Discard()
	err = s.blobs.Commit(r.Context(), staged, func(tx *store.Tx) error {
		cur, err := storletKind.byID(r.Context(), tx, id)
		if err != nil {
			return err
		}
		if cur.Main != st.Main {
			return apierr.Conflict("concurrent_change", "storlet %d changed while its data was uploaded; upload it again", id)
		}
		st = cur
		return storletKind.setData(s, tx, id, cur.DataHash, staged)
	})
	if err != nil {
		mod.Close(r.Context())
		return err
	}
	s.remember(staged.Hash, mod)
	st.DataHash, st.DataSize = staged.Hash, staged.Size
	s.log.Info("storlet data uploaded", "storlet", id, "size", staged.Size, "sha256", staged.Hash)
	writeJSON(w, http.StatusCreated, storletJSON(st))
	return nil
}

// dataError maps a compile failure to a 400 that says why.
func dataError(err error) error {
	var ie *sandbox.InvalidModuleError
	if errors.As(err, &ie) {
		return apierr.BadRequest("invalid_module", "the data is not a module this node can run: %s", ie.Reason)
	}
	return err
}

func uploadError(err error, max int64) error {
	var mb *http.MaxBytesError
	switch {
	case errors.Is(err, blob.ErrTooLarge), errors.Is(err, errTooLarge), errors.As(err, &mb):
		return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "the data exceeds this node's limit of %d bytes", max)
	case errors.Is(err, syscall.ENOSPC):
		return apierr.New(http.StatusInsufficientStorage, "no_space", "the node is out of disk space")
	}
	return err
}

var errTooLarge = errors.New("too large")

func readAllLimit(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errTooLarge
	}
	return b, nil
}

// dataReader returns the uploaded bytes: the raw body, or the first file
// part of a multipart/form-data body (as the original controller took it).
func dataReader(w http.ResponseWriter, r *http.Request, limit int64) (io.Reader, func(), error) {
	// Multipart framing adds a little to the data.
	body := http.MaxBytesReader(w, r.Body, limit+64<<10)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return body, func() {}, nil
	}
	return multipartFile(body, params["boundary"])
}

// multipartFile finds the data in a multipart body: the part named "file"
// or "data", or else the first part with a file name.
func multipartFile(body io.Reader, boundary string) (io.Reader, func(), error) {
	if boundary == "" {
		return nil, nil, apierr.BadRequest("invalid_multipart", "multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(body, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, nil, apierr.BadRequest("missing_file", "the multipart body has no file part (name it \"file\")")
		}
		if err != nil {
			return nil, nil, apierr.BadRequest("invalid_multipart", "the multipart body is malformed: %v", err)
		}
		if n := part.FormName(); n == "file" || n == "data" || part.FileName() != "" {
			return part, func() { part.Close() }, nil
		}
		part.Close()
	}
}

// --- storlet deployments ---

func (s *Service) listDeployedStorlets(w http.ResponseWriter, r *http.Request, args []string) error {
	acct, err := s.account(r.Context(), args[0])
	if err != nil {
		return err
	}
	withParams := func(sc scanner) (StorletJSON, error) {
		var params string
		st, err := scanStorlet(sc, &params)
		j := storletJSON(st)
		j.Params = &params
		return j, err
	}
	return writeList(s, w, r, withParams, `SELECT `+storletCols+`, d.params FROM storlet_deployments d
		JOIN storlets s ON s.id=d.storlet_id WHERE d.account=? ORDER BY d.seq`, acct.ID)
}

// DeployJSON is the answer to a deployment.
type DeployJSON struct {
	Account string `json:"account"`
	Storlet int64  `json:"storlet_id,omitempty"`
	Dep     int64  `json:"dependency_id,omitempty"`
	Name    string `json:"name"`
	Params  string `json:"params"`
}

func (s *Service) deployStorlet(w http.ResponseWriter, r *http.Request, args []string) error {
	acct, id, err := storletKind.target(s, r, args)
	if err != nil {
		return err
	}
	var body struct {
		Params any `json:"params"`
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMeta))
	if err != nil {
		return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "a deploy document may not exceed %d bytes", maxMeta)
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := parseMeta(raw, &body); err != nil {
			return err
		}
	}
	params, err := deployParams(body.Params)
	if err != nil {
		return err
	}
	st, err := storletKind.deployTx(s, r, id, func(tx *store.Tx) error {
		_, err := tx.Exec(`INSERT INTO storlet_deployments(account,storlet_id,params,seq,deployed_at)
			VALUES(?,?,?,(SELECT COALESCE(MAX(seq),0)+1 FROM storlet_deployments WHERE account=?),?)
			ON CONFLICT(account,storlet_id) DO UPDATE SET params=excluded.params`,
			acct.ID, id, params, acct.ID, store.Time(s.clock.Now()))
		return err
	})
	if err != nil {
		return err
	}
	s.log.Info("storlet deployed", "storlet", id, "account", acct.ID, "params", params)
	writeJSON(w, http.StatusCreated, DeployJSON{Account: acct.ID, Storlet: id, Name: st.Name, Params: params})
	return nil
}

// deployParams reads "params": a query string (as the spec says), or, for
// convenience, a JSON object of strings.
func deployParams(v any) (string, error) {
	var ps []filter.Param
	switch p := v.(type) {
	case nil:
		return "", nil
	case string:
		var err error
		if ps, err = filter.ParseParams(p); err != nil {
			return "", err
		}
	case map[string]any:
		keys := make([]string, 0, len(p))
		for k := range p {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			val, ok := p[k].(string)
			if !ok {
				return "", apierr.BadRequest("invalid_params", "params.%s must be a string", k).At("/params/" + k)
			}
			param := filter.Param{Key: k, Value: val}
			if err := filter.CheckParam(param); err != nil {
				return "", err
			}
			ps = append(ps, param)
		}
	default:
		return "", apierr.BadRequest("invalid_params", "params must be a query string such as \"select=user_id\"").At("/params")
	}
	return filter.FormatParams(ps), nil
}

// --- dependencies ---

func (s *Service) createDep(w http.ResponseWriter, r *http.Request, _ []string) error {
	var m depMeta
	if err := decodeMeta(w, r, &m); err != nil {
		return err
	}
	if m.Name == nil {
		return apierr.BadRequest("missing_field", "field \"name\" is required").At("/name")
	}
	if m.Version == nil {
		return apierr.BadRequest("missing_field", "field \"version\" is required (any version string, such as \"1.0\")").At("/version")
	}
	d := Dependency{Created: s.clock.Now()}
	if err := m.apply(&d); err != nil {
		return err
	}
	res, err := s.db.ExecContext(r.Context(), `INSERT INTO storlet_dependencies(name,version,permissions,created_at) VALUES(?,?,?,?)`,
		d.Name, d.Version, d.Permissions, store.Time(d.Created))
	if err != nil {
		return uniqueErr(err, "dependency", d.Name)
	}
	d.ID, _ = res.LastInsertId()
	s.log.Info("dependency created", "dependency", d.ID, "name", d.Name)
	writeJSON(w, http.StatusCreated, depJSON(d))
	return nil
}

func (s *Service) updateDep(w http.ResponseWriter, r *http.Request, args []string) error {
	id, err := parseID("dependency", args[0])
	if err != nil {
		return err
	}
	var m depMeta
	if err := decodeMeta(w, r, &m); err != nil {
		return err
	}
	var d Dependency
	err = s.db.Tx(r.Context(), func(tx *store.Tx) error {
		if d, err = depKind.byID(r.Context(), tx, id); err != nil {
			return err
		}
		if err := m.apply(&d); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE storlet_dependencies SET name=?,version=?,permissions=? WHERE id=?`, d.Name, d.Version, d.Permissions, d.ID)
		return uniqueErr(err, "dependency", d.Name)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, depJSON(d))
	return nil
}

// uploadDep streams the file into the blob store.
func (s *Service) uploadDep(w http.ResponseWriter, r *http.Request, args []string) error {
	id, err := parseID("dependency", args[0])
	if err != nil {
		return err
	}
	if _, err := depKind.byID(r.Context(), s.db, id); err != nil {
		return err
	}
	src, closeSrc, err := dataReader(w, r, s.MaxDependency)
	if err != nil {
		return err
	}
	defer closeSrc()
	staged, err := s.blobs.Stage(src, s.MaxDependency)
	if err != nil {
		return uploadError(err, s.MaxDependency)
	}
	defer staged.Discard()
	var d Dependency
	err = s.blobs.Commit(r.Context(), staged, func(tx *store.Tx) error {
		if d, err = depKind.byID(r.Context(), tx, id); err != nil {
			return err
		}
		return depKind.setData(s, tx, id, d.DataHash, staged)
	})
	if err != nil {
		return err
	}
	d.DataHash, d.DataSize = staged.Hash, staged.Size
	s.log.Info("dependency data uploaded", "dependency", id, "size", staged.Size, "sha256", staged.Hash)
	writeJSON(w, http.StatusCreated, depJSON(d))
	return nil
}

func (s *Service) listDeployedDeps(w http.ResponseWriter, r *http.Request, args []string) error {
	acct, err := s.account(r.Context(), args[0])
	if err != nil {
		return err
	}
	return writeList(s, w, r, depKind.row, `SELECT `+depCols+` FROM storlet_dependency_deployments d
		JOIN storlet_dependencies p ON p.id=d.dependency_id WHERE d.account=? ORDER BY d.deployed_at, p.id`, acct.ID)
}

func (s *Service) deployDep(w http.ResponseWriter, r *http.Request, args []string) error {
	acct, id, err := depKind.target(s, r, args)
	if err != nil {
		return err
	}
	d, err := depKind.deployTx(s, r, id, func(tx *store.Tx) error {
		_, err := tx.Exec(`INSERT INTO storlet_dependency_deployments(account,dependency_id,deployed_at) VALUES(?,?,?)
			ON CONFLICT(account,dependency_id) DO NOTHING`, acct.ID, id, store.Time(s.clock.Now()))
		return err
	})
	if err != nil {
		return err
	}
	s.log.Info("dependency deployed", "dependency", id, "account", acct.ID)
	writeJSON(w, http.StatusCreated, DeployJSON{Account: acct.ID, Dep: id, Name: d.Name})
	return nil
}
