package ocean

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/ecies"
	"github.com/prometheus-dds/dds/internal/limits"
)

// MaxDocument bounds what encrypt and decrypt handle (documents, file
// lists: small things held in memory).
const MaxDocument = 16 << 20

func (s *Service) encrypt(w http.ResponseWriter, r *http.Request) error {
	if err := s.chainID(r.URL.Query().Get("chainId")); err != nil {
		return err
	}
	body, err := limits.ReadAll(w, r, MaxDocument, "a document to encrypt")
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return apierr.BadRequest("missing_body", "the body (application/octet-stream) is the document to encrypt, and it is empty")
	}
	ct, err := ecies.Encrypt(s.key.Private().PubKey(), body)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, "0x"+hex.EncodeToString(ct))
	return nil
}

// Document flags of decrypt, as on chain: bit 0 LZMA (xz) compressed,
// bit 1 ECIES encrypted.
const (
	flagLZMA  = 1
	flagECIES = 2
)

type decryptRequest struct {
	DecrypterAddress  string `param:"decrypterAddress"`
	ChainID           string `param:"chainId"`
	TransactionID     string `param:"transactionId"`
	DataNFTAddress    string `param:"dataNftAddress"`
	EncryptedDocument string `param:"encryptedDocument"`
	DocumentHash      string `param:"documentHash"`
	Flags             string `param:"flags"`
	signed
}

func (s *Service) decrypt(w http.ResponseWriter, r *http.Request) error {
	var q decryptRequest
	if err := decode(w, r, &q); err != nil {
		return err
	}
	decrypter := q.DecrypterAddress
	if err := first(address("decrypterAddress", decrypter), s.chainID(q.ChainID)); err != nil {
		return err
	}
	if !s.decrypters[strings.ToLower(decrypter)] {
		return apierr.Forbidden("Decrypter %s is not authorized on this provider", decrypter)
	}
	ref := q.TransactionID
	if ref == "" {
		ref = q.DataNFTAddress
	}
	if ref == "" {
		return apierr.BadRequest("missing_parameter", "transactionId or dataNftAddress is required")
	}
	// The signature covers the request as the real provider defines it.
	if err := s.authorizeSigned(r, decrypter, ref+decrypter+q.ChainID, q.signed); err != nil {
		return err
	}
	if q.EncryptedDocument == "" {
		return apierr.BadRequest("missing_parameter", "encryptedDocument is required: this provider reads no chain")
	}
	if err := required("documentHash", q.DocumentHash); err != nil {
		return err
	}
	flags, err := strconv.Atoi(q.Flags)
	if err != nil || flags < 0 || flags > flagLZMA|flagECIES {
		return apierr.BadRequest("invalid_parameter", "flags %q must be 0 to 3 (1: LZMA compressed, 2: ECIES encrypted)", q.Flags)
	}
	doc, err := decodeHex(q.EncryptedDocument)
	if err != nil {
		return apierr.BadRequest("invalid_parameter", "encryptedDocument is not 0x-hex: %v", err)
	}
	if flags&flagECIES != 0 {
		if doc, err = ecies.Decrypt(s.key.Private(), doc); err != nil {
			return apierr.BadRequest("decrypt_failed", "Failed to decrypt: the document was not encrypted for this provider")
		}
	}
	if flags&flagLZMA != 0 {
		zr, err := xz.NewReader(bytes.NewReader(doc))
		if err != nil {
			return apierr.BadRequest("decompress_failed", "Failed to decompress: %v", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, MaxDocument+1))
		if err != nil {
			return apierr.BadRequest("decompress_failed", "Failed to decompress: %v", err)
		}
		if len(out) > MaxDocument {
			return apierr.BadRequest("decompress_failed", "the decompressed document exceeds %d bytes", MaxDocument)
		}
		doc = out
	}
	sum := sha256.Sum256(doc)
	if !strings.EqualFold(strings.TrimPrefix(q.DocumentHash, "0x"), hex.EncodeToString(sum[:])) {
		return apierr.BadRequest("hash_mismatch", "Unmatched document hash: the decrypted document's SHA-256 is 0x%x", sum)
	}
	s.log.Info("document decrypted", "decrypter", decrypter, "ref", ref, "bytes", len(doc))
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(doc)
	return nil
}
