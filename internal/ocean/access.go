package ocean

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/store"
)

// ProviderFeeHash is keccak256(providerData || feeAddress || feeToken ||
// uint256 amount || uint256 validUntil): Solidity's packed encoding, as
// the datatoken contract checks it.
func ProviderFeeHash(providerData []byte, feeAddress, feeToken string, amount *big.Int, validUntil int64) ([]byte, error) {
	addr, err := decodeHex(feeAddress)
	if err != nil || len(addr) != 20 {
		return nil, errors.New("fee address is not 20 bytes")
	}
	tok, err := decodeHex(feeToken)
	if err != nil || len(tok) != 20 {
		return nil, errors.New("fee token is not 20 bytes")
	}
	if amount.Sign() < 0 || amount.BitLen() > 256 || validUntil < 0 {
		return nil, errors.New("amount or validUntil out of range")
	}
	var amt, until [32]byte
	amount.FillBytes(amt[:])
	binary.BigEndian.PutUint64(until[24:], uint64(validUntil))
	return identity.Keccak256(providerData, addr, tok, amt[:], until[:]), nil
}

// SignFee builds and signs a provider fee: the signature is EIP-191 over
// ProviderFeeHash.
func SignFee(key Key, providerData []byte, feeToken string, amount *big.Int, validUntil int64) (api.ProviderFee, error) {
	h, err := ProviderFeeHash(providerData, key.Address(), feeToken, amount, validUntil)
	if err != nil {
		return api.ProviderFee{}, err
	}
	sig, err := key.SignHash(identity.EthMessageHash(h))
	if err != nil {
		return api.ProviderFee{}, err
	}
	return api.ProviderFee{
		ProviderFeeAddress: key.Address(), ProviderFeeToken: feeToken, ProviderFeeAmount: amount.String(),
		ProviderData: "0x" + hex.EncodeToString(providerData),
		V:            int(sig[64]), R: "0x" + hex.EncodeToString(sig[:32]), S: "0x" + hex.EncodeToString(sig[32:64]),
		ValidUntil: validUntil,
	}, nil
}

// providerData is the fee's data, in the real provider's field order.
type providerData struct {
	Environment string `json:"environment"`
	Timestamp   int64  `json:"timestamp"`
	DT          string `json:"dt"`
	ID          string `json:"id"`
}

// datatoken is a service's datatoken, the zero address when it names none.
func datatoken(svc api.DDOService) string {
	if svc.DatatokenAddress == "" {
		return ZeroAddress
	}
	return svc.DatatokenAddress
}

// orderEnd is when an order of svc made at now expires: its timeout later,
// or never (0).
func orderEnd(svc api.DDOService, now time.Time) int64 {
	if svc.Timeout > 0 {
		return now.Unix() + svc.Timeout
	}
	return 0
}

// signFee signs the provider fee of an order of svc made at now: amount
// for environment, valid until validUntil (0: forever).
func (s *Service) signFee(svc api.DDOService, environment string, amount money.Amount, validUntil int64, now time.Time) (api.ProviderFee, error) {
	data, err := json.Marshal(providerData{Environment: environment, Timestamp: now.Unix(), DT: datatoken(svc), ID: svc.ID})
	if err != nil {
		return api.ProviderFee{}, err
	}
	return SignFee(s.key, data, s.cfg.FeeToken, big.NewInt(int64(amount)), validUntil)
}

// orderPayment says how a consumer pays for an order: a payment through the
// Billing face with these attributes.
func orderPayment(did, serviceID, consumer string, amount money.Amount) map[string]string {
	return map[string]string{
		"how":         "POST /payments with attributes document_id, service_id, consumer_address, amount; the payment id is the transferTxId",
		"document_id": did, "service_id": serviceID, "consumer_address": consumer, "amount": amount.String(),
	}
}

// accessRequest names a document's service for a consumer: initialize
// and download.
type accessRequest struct {
	DocumentID      string `param:"documentId"`
	ServiceID       string `param:"serviceId"`
	ConsumerAddress string `param:"consumerAddress"`
	TransferTxID    string `param:"transferTxId"` // download: the order; initialize: an order to reuse
	FileIndex       string `param:"fileIndex"`
	ValidUntil      string `param:"validUntil"`  // initialize
	Environment     string `param:"environment"` // initialize
	signed
}

// fileIndex is the requested file's index (0 when none is named).
func (q *accessRequest) fileIndex() (int, error) {
	if q.FileIndex == "" {
		return 0, nil
	}
	idx, err := strconv.Atoi(q.FileIndex)
	if err != nil || idx < 0 {
		return 0, apierr.BadRequest("invalid_parameter", "fileIndex %q is not a non-negative integer", q.FileIndex)
	}
	return idx, nil
}

func (s *Service) initialize(w http.ResponseWriter, r *http.Request) error {
	var q accessRequest
	if err := decode(w, r, &q); err != nil {
		return err
	}
	if err := first(required("documentId", q.DocumentID), required("serviceId", q.ServiceID), address("consumerAddress", q.ConsumerAddress)); err != nil {
		return err
	}
	did, consumer := q.DocumentID, q.ConsumerAddress
	d, svc, err := s.service(r.Context(), did, q.ServiceID)
	if err != nil {
		return err
	}
	if svc.Type == "compute" {
		return apierr.BadRequest("invalid_parameter", "Use the initializeCompute endpoint to initialize compute jobs")
	}
	if q.TransferTxID != "" && s.onChain(q.TransferTxID) {
		// As the Ocean provider: an order that can still be used, even with
		// an expired provider fee, needs no new one.
		if o, err := s.checkChainOrder(r.Context(), q.TransferTxID, did, svc, consumer, true); err == nil {
			httpjson.Write(w, http.StatusOK, api.OceanValidOrder{ValidOrder: o.TxHash.Hex()})
			return nil
		} else if e, ok := apierr.As(err); ok && e.Status == http.StatusServiceUnavailable {
			return err
		}
	}
	now := s.clock.Now()
	validUntil := orderEnd(svc, now)
	if v := q.ValidUntil; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= now.Unix() {
			return apierr.BadRequest("invalid_parameter", "The validUntil value is not correct: %q is not a future UTC timestamp", v)
		}
		validUntil = n
	}
	if q.FileIndex != "" {
		idx, err := q.fileIndex()
		if err != nil {
			return err
		}
		f, err := s.file(d, svc, idx)
		if err != nil {
			return err
		}
		if fi := s.info(r.Context(), f, idx, false, true); !fi.Valid {
			return apierr.BadRequest("file_unavailable", "Unable to get dataset files: file %d is %s", idx, fi.Error)
		}
	}
	// What the consumer pays is the service's price, through the Billing
	// face; the provider fee itself is zero.
	fee, err := s.signFee(svc, q.Environment, 0, validUntil, now)
	if err != nil {
		return err
	}
	nonce, err := s.currentNonce(r, consumer)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, api.OceanInitialized{
		Datatoken:   datatoken(svc),
		Nonce:       nonce,
		ProviderFee: fee,
		Price:       price(svc).String(),
		Payment:     orderPayment(did, svc.ID, consumer, price(svc)),
	})
	return nil
}

func (s *Service) download(w http.ResponseWriter, r *http.Request) error {
	var q accessRequest
	if err := decode(w, r, &q); err != nil {
		return err
	}
	if err := first(required("documentId", q.DocumentID), required("serviceId", q.ServiceID), address("consumerAddress", q.ConsumerAddress),
		required("transferTxId", q.TransferTxID)); err != nil {
		return err
	}
	idx, err := q.fileIndex()
	if err != nil {
		return err
	}
	did, serviceID, consumer, txID := q.DocumentID, q.ServiceID, q.ConsumerAddress, q.TransferTxID
	nonce, err := s.beginAuthorize(r, consumer, did, q.signed)
	if err != nil {
		return err
	}
	// The lookups run while the nonce is recorded; its verdict comes first.
	f, local, err := s.downloadable(r, did, serviceID, consumer, txID, idx)
	if nerr := nonce.Fresh(); nerr != nil || err != nil {
		if local != nil {
			local.content.Close()
		}
		if nerr == nil { // a refused download still uses its nonce
			nerr = nonce.Written()
		}
		return cmp.Or(nerr, err)
	}
	s.log.Info("download", "did", did, "service", serviceID, "consumer", consumer, "order", txID, "file", idx)
	if local == nil {
		// A remote file: nothing goes out before the nonce is durable.
		if err := nonce.Written(); err != nil {
			return err
		}
		return s.serveFile(w, r, f)
	}
	defer local.content.Close()
	// The file streams while the nonce's write is made durable; its last
	// bytes wait for it.
	held := &heldTail{ResponseWriter: w, wait: nonce.Written}
	serveLocal(held, r, local)
	if err := held.release(); err != nil {
		s.log.Error("download: recording the nonce failed; the answer is cut short", "consumer", consumer, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// downloadable checks that txID pays for file idx of a document's access
// service and returns the file, opened when it is stored on this node.
func (s *Service) downloadable(r *http.Request, did, serviceID, consumer, txID string, idx int) (api.FileObject, *localFile, error) {
	d, svc, err := s.service(r.Context(), did, serviceID)
	if err != nil {
		return api.FileObject{}, nil, err
	}
	if svc.Type != "access" {
		return api.FileObject{}, nil, apierr.BadRequest("invalid_parameter", "service %q is a %s service: its files are not for download", serviceID, svc.Type)
	}
	if err := s.checkOrder(r, txID, did, svc, consumer); err != nil {
		return api.FileObject{}, nil, err
	}
	f, err := s.file(d, svc, idx)
	if err != nil {
		return api.FileObject{}, nil, err
	}
	local, err := s.openLocal(r.Context(), f)
	return f, local, err
}

// checkOrder verifies that payment txID is an order of this consumer for
// this document's service, still within the service's timeout, and that
// the consumer's orders within that window cover the price.
func (s *Service) checkOrder(r *http.Request, txID, did string, svc api.DDOService, consumer string) error {
	if s.onChain(txID) {
		_, err := s.checkChainOrder(r.Context(), txID, did, svc, consumer, false)
		return err
	}
	pay, err := s.ledger.Payment(r.Context(), txID)
	if errors.Is(err, store.ErrNotFound) {
		return apierr.BadRequest("invalid_order", "Order %q not found: pay for the service through POST /payments first", txID)
	}
	if err != nil {
		return err
	}
	str := func(k string) string { v, _ := pay.Attrs[k].(string); return v }
	switch {
	case pay.Status != "success":
		return apierr.BadRequest("invalid_order", "Order %s did not succeed (status %s)", txID, pay.Status)
	case str("document_id") != did:
		return apierr.BadRequest("invalid_order", "Order %s is not for asset %s", txID, did)
	case str("service_id") != svc.ID:
		return apierr.BadRequest("invalid_order", "Order %s is not for service %q", txID, svc.ID)
	case !strings.EqualFold(str("consumer_address"), consumer):
		return apierr.BadRequest("invalid_order", "Order %s was not made by consumer %s", txID, consumer)
	}
	now := s.clock.Now()
	var since time.Time
	if svc.Timeout > 0 {
		since = now.Add(-time.Duration(svc.Timeout) * time.Second)
		if pay.Created.Before(since) {
			return apierr.BadRequest("order_expired", "Order %s expired at %s (the service's timeout is %ds)",
				txID, pay.Created.Add(time.Duration(svc.Timeout)*time.Second).UTC().Format(time.RFC3339), svc.Timeout)
		}
	}
	if pay.Amount >= price(svc) {
		return nil // the order alone covers the price
	}
	paid, _, err := s.ledger.PaidWhere(r.Context(), map[string]string{
		"document_id": did, "service_id": svc.ID, "consumer_address": strings.ToLower(consumer)}, since)
	if err != nil {
		return err
	}
	if price := price(svc); paid < price {
		return apierr.New(http.StatusPaymentRequired, "underpaid", "Order %s is not fully paid: %s of %s paid", txID, paid, price)
	}
	return nil
}
