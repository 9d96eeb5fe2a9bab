package storlets

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/limits"
)

// maxMeta bounds a metadata document.
const maxMeta = 64 << 10

// createdAt renders times as the spec does: "2013-03-08 10:36:41.997", UTC.
func createdAt(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

// boolString renders booleans as the spec does: "true" and "false".
func boolString(b bool) string { return strconv.FormatBool(b) }

func storletJSON(st Storlet) api.Storlet {
	return api.Storlet{ID: st.ID, Name: st.Name, Language: st.Language, InterfaceVersion: st.InterfaceVersion,
		Dependency: st.Dependency, ObjectMetadata: st.ObjectMetadata, Main: st.Main, CreatedAt: createdAt(st.Created),
		Deployed: boolString(st.Deployed), HasData: st.DataHash != "", DataSize: st.DataSize, DataSHA256: st.DataHash}
}

func depJSON(d Dependency) api.StorletDependency {
	return api.StorletDependency{ID: d.ID, Name: d.Name, Version: d.Version, Permissions: d.Permissions, CreatedAt: createdAt(d.Created),
		Deployed: boolString(d.Deployed), HasData: d.DataHash != "", DataSize: d.DataSize, DataSHA256: d.DataHash}
}

// storletMeta is the metadata a client sends. Pointers tell absent fields
// from empty ones; the read-only fields are accepted (a client may send back
// what it got) and ignored.
type storletMeta struct {
	api.StorletMeta
	readOnly
}

type depMeta struct {
	api.StorletDependencyMeta
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
	body, err := limits.ReadAll(w, r, maxMeta, "a metadata document")
	if err != nil {
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
			// The fields are promoted from the api type: drop its name.
			field := te.Field[strings.LastIndex(te.Field, ".")+1:]
			return apierr.BadRequest("invalid_field", "field %q must be a %s", field, te.Type.String()).At("/" + field)
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

// uniqueErr says which name is taken.
func uniqueErr(err error, kind, name string) error {
	if errors.Is(err, ErrNameTaken) {
		return apierr.Conflict("name_taken", "a %s named %q exists already", kind, name).At("/name")
	}
	return err
}
