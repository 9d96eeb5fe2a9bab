package ocean

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/ecies"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/limits"
	"github.com/prometheus-dds/dds/internal/money"
)

// MaxDDO bounds a DDO document.
const MaxDDO = 1 << 20

// price is a service's price in base units.
func price(s api.DDOService) money.Amount {
	a, _ := money.Parse(s.Price) // validated by ParseDDO
	return a
}

var didRe = regexp.MustCompile(`^did:op:[0-9a-f]{64}$`)

// MakeDID is the DID Ocean derives from a data NFT address and a chain id:
// did:op: + hex(sha256(checksummedAddress + decimal chainId)).
func MakeDID(nftAddress string, chainID int64) string {
	h := sha256.Sum256([]byte(identity.ChecksumAddress(nftAddress) + strconv.FormatInt(chainID, 10)))
	return "did:op:" + hex.EncodeToString(h[:])
}

// ParseDDO reads and validates a DDO for a provider on chain chainID. It
// returns the document with its id filled in (derived from nftAddress when
// absent) and its parsed form.
func ParseDDO(raw []byte, chainID int64) ([]byte, *api.DDO, error) {
	bad := func(format string, args ...any) ([]byte, *api.DDO, error) {
		return nil, nil, apierr.BadRequest("invalid_ddo", "invalid DDO: "+format, args...)
	}
	if len(raw) > MaxDDO {
		return bad("larger than %d bytes", MaxDDO)
	}
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return bad("not a JSON object")
	}
	if dec.More() {
		return bad("trailing data after the JSON object")
	}
	var d api.DDO
	if err := json.Unmarshal(raw, &d); err != nil {
		return bad("%v", err)
	}
	if d.ChainID != chainID {
		return bad("chainId %d is not the chain this provider serves (%d)", d.ChainID, chainID)
	}
	if d.NFTAddress != "" && !identity.ValidAddress(d.NFTAddress) {
		return bad("nftAddress %q is not a 0x address", d.NFTAddress)
	}
	switch {
	case d.ID == "" && d.NFTAddress == "":
		return bad("give an id (did:op:<64 hex>) or an nftAddress to derive it from")
	case d.ID == "":
		d.ID = MakeDID(d.NFTAddress, chainID)
		doc["id"], _ = json.Marshal(d.ID)
	case !didRe.MatchString(d.ID):
		return bad("id %q is not did:op: followed by 64 lowercase hex digits", d.ID)
	case d.NFTAddress != "" && d.ID != MakeDID(d.NFTAddress, chainID):
		return bad("id %s is not the DID of nftAddress %s on chain %d (%s)", d.ID, d.NFTAddress, chainID, MakeDID(d.NFTAddress, chainID))
	}
	if d.Metadata == nil {
		return bad("metadata is required")
	}
	if name, _ := d.Metadata["name"].(string); strings.TrimSpace(name) == "" {
		return bad("metadata.name is required")
	}
	if len(d.Services) == 0 || len(d.Services) > 64 {
		return bad("services must list 1 to 64 services")
	}
	seen := map[string]bool{}
	for i, s := range d.Services {
		switch {
		case s.ID == "" || len(s.ID) > 128:
			return bad("services[%d].id must be 1 to 128 characters", i)
		case seen[s.ID]:
			return bad("services[%d].id %q is not unique", i, s.ID)
		case s.Type != "access" && s.Type != "compute":
			return bad("services[%d].type %q must be access or compute", i, s.Type)
		case s.Files == "":
			return bad("services[%d].files is required (the encrypted file list, from the encrypt endpoint)", i)
		case s.DatatokenAddress != "" && !identity.ValidAddress(s.DatatokenAddress):
			return bad("services[%d].datatokenAddress %q is not a 0x address", i, s.DatatokenAddress)
		case s.Timeout < 0:
			return bad("services[%d].timeout must not be negative", i)
		}
		if _, err := decodeHex(s.Files); err != nil {
			return bad("services[%d].files is not 0x-hex: %v", i, err)
		}
		if s.Price != "" {
			if _, err := money.Parse(s.Price); err != nil {
				return bad("services[%d].price %q: %v", i, s.Price, err)
			}
		}
		seen[s.ID] = true
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return bad("%v", err)
	}
	return out, &d, nil
}

func decodeHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" {
		return nil, errors.New("empty")
	}
	return hex.DecodeString(s)
}

// ParseFileList reads a decrypted files field and validates its objects.
func (s *Service) ParseFileList(plain []byte) (*api.FileList, error) {
	var fl api.FileList
	if err := json.Unmarshal(plain, &fl); err != nil {
		return nil, apierr.BadRequest("invalid_files", "the decrypted file list is not JSON: %v", err)
	}
	if len(fl.Files) == 0 {
		return nil, apierr.BadRequest("invalid_files", "the file list has no files")
	}
	for i, f := range fl.Files {
		if err := s.validFile(f); err != nil {
			return nil, apierr.BadRequest("invalid_files", "files[%d]: %v", i, err)
		}
	}
	return &fl, nil
}

// files decrypts and reads a service's file list.
func (s *Service) files(d *api.DDO, svc api.DDOService) (*api.FileList, error) {
	plain, ok := s.plainFiles.get(svc.Files)
	if !ok {
		ct, err := decodeHex(svc.Files)
		if err != nil {
			return nil, apierr.BadRequest("invalid_files", "the files of service %q are not hex", svc.ID)
		}
		if plain, err = ecies.Decrypt(s.key.Private(), ct); err != nil {
			return nil, apierr.BadRequest("invalid_files", "cannot decrypt files for this service: they were not encrypted for this provider (%s); use its encrypt endpoint", s.key.Address())
		}
		s.plainFiles.put(svc.Files, plain)
	}
	fl, err := s.ParseFileList(plain)
	if err != nil {
		return nil, err
	}
	if fl.DatatokenAddress != "" && svc.DatatokenAddress != "" && !strings.EqualFold(fl.DatatokenAddress, svc.DatatokenAddress) {
		return nil, apierr.BadRequest("invalid_files", "the file list is bound to datatoken %s, not this service's %s", fl.DatatokenAddress, svc.DatatokenAddress)
	}
	if fl.NFTAddress != "" && d.NFTAddress != "" && !strings.EqualFold(fl.NFTAddress, d.NFTAddress) {
		return nil, apierr.BadRequest("invalid_files", "the file list is bound to NFT %s, not this document's %s", fl.NFTAddress, d.NFTAddress)
	}
	return fl, nil
}

// service returns a published document and its service serviceID.
func (s *Service) service(ctx context.Context, did, serviceID string) (*api.DDO, api.DDOService, error) {
	_, d, _, err := s.loadDDO(ctx, did)
	if err != nil {
		return nil, api.DDOService{}, err
	}
	svc, ok := d.Service(serviceID)
	if !ok {
		return nil, svc, apierr.BadRequest("invalid_parameter", "Invalid serviceId %q for %s", serviceID, did)
	}
	return d, svc, nil
}

// file returns file idx of a service's list.
func (s *Service) file(d *api.DDO, svc api.DDOService, idx int) (api.FileObject, error) {
	fl, err := s.files(d, svc)
	if err != nil {
		return api.FileObject{}, err
	}
	if idx >= len(fl.Files) {
		return api.FileObject{}, apierr.BadRequest("invalid_parameter", "fileIndex %d is out of range: the service has %d files", idx, len(fl.Files))
	}
	return fl.Files[idx], nil
}

// loadDDO returns a published DDO by DID.
func (s *Service) loadDDO(ctx context.Context, did string) ([]byte, *api.DDO, string, error) {
	sd, err := s.provStore.DDO(ctx, did)
	if errors.Is(err, ErrNotFound) {
		// Not registered here: perhaps published on a connected chain.
		if c, err := s.chainDDO(ctx, did); err != nil || c != nil {
			if err != nil {
				return nil, nil, "", err
			}
			return c.doc, c.ddo, "", nil
		}
		return nil, nil, "", apierr.NotFound("Cannot resolve DID %q: no such asset on this provider", did)
	}
	if err != nil {
		return nil, nil, "", err
	}
	var d api.DDO
	if err := json.Unmarshal(sd.Doc, &d); err != nil {
		return nil, nil, "", fmt.Errorf("provider: stored DDO %s: %w", did, err)
	}
	return sd.Doc, &d, sd.Owner, nil
}

// DocumentService validates an order for a document's service (the Billing
// face asks before recording a payment for it).
func (s *Service) DocumentService(r *http.Request, did, serviceID string) error {
	_, d, _, err := s.loadDDO(r.Context(), did)
	if err != nil {
		return err
	}
	if _, ok := d.Service(serviceID); !ok {
		return apierr.NotFound("document %s has no service %q", did, serviceID)
	}
	return nil
}

// publish registers a DDO with this node. The publisher is a principal of
// the node (Bearer token); content stored on this node may only be offered
// by its owner.
func (s *Service) publish(w http.ResponseWriter, r *http.Request) error {
	who, err := s.auth.Bearer(r)
	if err != nil {
		return err
	}
	raw, err := limits.ReadAll(w, r, MaxDDO, "a DDO")
	if err != nil {
		return err
	}
	chainID := s.cfg.ChainID
	var peek struct {
		ChainID int64 `json:"chainId"`
	}
	if json.Unmarshal(raw, &peek) == nil && s.servesChain(peek.ChainID) {
		chainID = peek.ChainID // a DDO of a connected chain
	}
	doc, d, err := ParseDDO(raw, chainID)
	if err != nil {
		return err
	}
	if err := s.notOnChain(r.Context(), d); err != nil {
		return err
	}
	for _, svc := range d.Services {
		fl, err := s.files(d, svc)
		if err != nil {
			return err
		}
		for i, f := range fl.Files {
			src, ok := s.local[f.Type]
			if !ok {
				continue
			}
			obj, err := src.Stat(r.Context(), f.ID)
			if err != nil || (obj.Owner != who.ID && who.Role != auth.RoleAdmin) {
				// Someone else's content is as good as absent.
				return apierr.BadRequest("invalid_files", "service %q files[%d]: no %s content %q of yours on this node", svc.ID, i, f.Type, f.ID)
			}
		}
	}
	err = s.provStore.AddDDO(r.Context(), StoredDDO{DID: d.ID, Owner: who.ID, Doc: doc, Created: s.clock.Now()})
	if errors.Is(err, ErrExists) {
		return apierr.Conflict("exists", "asset %s is already published", d.ID)
	}
	if err != nil {
		return err
	}
	s.log.Info("asset published", "did", d.ID, "owner", who.ID, "services", len(d.Services))
	w.Header().Set("Location", "/api/aquarius/assets/ddo/"+d.ID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(doc)
	return nil
}

func (s *Service) getDDO(w http.ResponseWriter, r *http.Request) error {
	doc, _, _, err := s.loadDDO(r.Context(), r.PathValue("did"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
	return nil
}

func (s *Service) getMetadata(w http.ResponseWriter, r *http.Request) error {
	_, d, _, err := s.loadDDO(r.Context(), r.PathValue("did"))
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, d.Metadata)
	return nil
}

func (s *Service) deleteDDO(w http.ResponseWriter, r *http.Request) error {
	who, err := s.auth.Bearer(r)
	if err != nil {
		return err
	}
	did := r.PathValue("did")
	_, _, owner, err := s.loadDDO(r.Context(), did)
	if err != nil {
		return err
	}
	if owner != who.ID && who.Role != auth.RoleAdmin {
		return apierr.NotFound("Cannot resolve DID %q: no such asset of yours on this provider", did)
	}
	if err := s.provStore.DeleteDDO(r.Context(), did); err != nil {
		return err
	}
	s.log.Info("asset unpublished", "did", did, "by", who.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listDDOs lists published DDOs, oldest first: ?offset=&limit= (at most 100).
func (s *Service) listDDOs(w http.ResponseWriter, r *http.Request) error {
	var q struct {
		Offset string `param:"offset"`
		Limit  string `param:"limit"`
	}
	if err := decode(w, r, &q); err != nil {
		return err
	}
	offset, limit := 0, 20
	var err error
	if v := q.Offset; v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return apierr.BadRequest("invalid_parameter", "offset %q is not a non-negative integer", v)
		}
	}
	if v := q.Limit; v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 100 {
			return apierr.BadRequest("invalid_parameter", "limit %q is not an integer from 1 to 100", v)
		}
	}
	total, docs, err := s.provStore.DDOs(r.Context(), offset, limit)
	if err != nil {
		return err
	}
	results := make([]json.RawMessage, len(docs))
	for i, doc := range docs {
		results[i] = doc
	}
	httpjson.Write(w, http.StatusOK, api.DDOList{Total: total, Offset: offset, Limit: limit, Results: results})
	return nil
}

// plainCache keeps decrypted file lists by their ciphertext. It is bounded:
// when full it starts afresh.
type plainCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

const plainCacheSize = 1024

func (c *plainCache) get(ct string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[ct]
	return p, ok
}

func (c *plainCache) put(ct string, plain []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= plainCacheSize {
		c.m = map[string][]byte{}
	}
	c.m[ct] = plain
}
