package deals

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/btc"
	"github.com/prometheus-dds/dds/internal/pgp"
	"github.com/prometheus-dds/dds/internal/store"
)

// Account is a Bitcoin account of the module, mapped onto a node principal.
type Account struct {
	Address          string
	PrincipalID      string
	PubKey           string
	PGP              string
	Bitmessage       []string
	Email            string
	AccountURLs      []string
	TrustedURLs      []string
	FeedbackTotal    int64
	FeedbackPositive int64
	Created, Updated time.Time
}

// Rating renders the account's rating as the original does: "<count>, <positive share>%".
func (a Account) Rating() string {
	pct := int64(0)
	if a.FeedbackTotal > 0 {
		pct = a.FeedbackPositive * 100 / a.FeedbackTotal
	}
	return fmt.Sprintf("%d, %d%%", a.FeedbackTotal, pct)
}

func (s *Service) loadAccount(ctx context.Context, address string) (Account, error) {
	a, err := s.store.Account(ctx, address)
	if errors.Is(err, store.ErrNotFound) {
		return a, apierr.NotFound("no account for Bitcoin address %s", address)
	}
	return a, err
}

func (a Account) doc() doc {
	d := doc{{"address", a.Address}}
	if a.PubKey != "" {
		d = append(d, field{"key", a.PubKey})
	}
	if a.PGP != "" {
		d = append(d, field{"pgp", a.PGP})
	}
	if len(a.Bitmessage) > 0 {
		d = append(d, field{"bitmessage", a.Bitmessage})
	}
	if a.Email != "" {
		d = append(d, field{"email", a.Email})
	}
	if len(a.AccountURLs) > 0 {
		d = append(d, field{"account", a.AccountURLs})
	}
	if len(a.TrustedURLs) > 0 {
		d = append(d, field{"trusted", a.TrustedURLs})
	}
	d = append(d, field{"rating", a.Rating()}, field{"created", formatTime(a.Created)}, field{"updated", formatTime(a.Updated)})
	return doc{{"account", d}}
}

// accountAddress is the account an action is about: the "address" parameter
// (query or body).
func (s *Service) accountAddress(in accountInput, p *params) (string, error) {
	addr := in.address
	if addr == "" {
		addr = p.get("address")
	}
	if addr == "" {
		return "", apierr.BadRequest("missing_address", "name the account with the address parameter (its Bitcoin address)")
	}
	a, err := s.net.DecodeAddress(addr)
	if err != nil {
		return "", apierr.BadRequest("bad_address", "Invalid Bitcoin address: %s", clip(addr))
	}
	return a.EncodeAddress(), nil
}

func (s *Service) accountStatus(ctx context.Context, r *http.Request, p *params) (answer, error) {
	var in accountInput
	if caller, _ := auth.From(ctx); p.get("address") == "" {
		if _, err := s.net.DecodeAddress(caller.Name); err == nil {
			in.address = caller.Name // an account's own principal is named after its address
		}
	}
	addr, err := s.accountAddress(in, p)
	if err != nil {
		return answer{}, err
	}
	a, err := s.loadAccount(ctx, addr)
	if err != nil {
		return answer{}, err
	}
	return answer{Message: "Account " + a.Address, Payload: a.doc()}, nil
}

func (s *Service) accountAction(action string) handlerFunc {
	return func(ctx context.Context, r *http.Request, p *params) (answer, error) {
		var in accountInput
		var err error
		if p.raw {
			in, err = parseLines(action, p.text)
		} else {
			in, err = accountFromParams(action, p)
		}
		if err != nil {
			return answer{}, err
		}
		addr, err := s.accountAddress(in, p)
		if err != nil {
			return answer{}, err
		}
		in.address = addr
		if err := s.validateAccountInput(in); err != nil {
			return answer{}, err
		}
		switch action {
		case "new":
			return s.accountNew(ctx, in)
		case "add":
			return s.accountAdd(ctx, in)
		}
		a, err := s.loadAccount(ctx, addr)
		if err != nil {
			return answer{}, err
		}
		if err := s.checkSigned(ctx, action, a, in); err != nil {
			return answer{}, err
		}
		switch action {
		case "update":
			return s.accountUpdate(ctx, a, in)
		case "delete":
			return s.accountDelete(ctx, a, in)
		default:
			return s.accountToken(ctx, a, in)
		}
	}
}

func (s *Service) validateAccountInput(in accountInput) error {
	addr, _ := s.net.DecodeAddress(in.address)
	for _, k := range in.keys {
		pub, err := btc.ParsePublicKey(k)
		if err != nil {
			return apierr.BadRequest("bad_key", "%v", err)
		}
		if !s.net.KeyMatches(addr, pub, len(k) == 66) {
			return apierr.BadRequest("bad_key", "public key %s is not the key of address %s", k, in.address)
		}
	}
	if len(in.keys) > 1 {
		return apierr.BadRequest("bad_key", "one public key per account")
	}
	if in.pgp != "" {
		if err := pgp.ParsePublicKey(in.pgp); err != nil {
			return apierr.BadRequest("bad_pgp", "%v", err)
		}
	}
	for _, b := range in.bitmessage {
		if !strings.HasPrefix(b, "BM-") || len(b) > 64 || strings.ContainsAny(b, " \t\n") {
			return apierr.BadRequest("bad_bitmessage", "invalid Bitmessage address %q", clip(b))
		}
	}
	if in.email != "" {
		if m, err := mail.ParseAddress(in.email); err != nil || m.Address != in.email {
			return apierr.BadRequest("bad_email", "invalid email address %q", clip(in.email))
		}
	}
	return nil
}

func (s *Service) accountNew(ctx context.Context, in accountInput) (answer, error) {
	if _, err := s.loadAccount(ctx, in.address); err == nil {
		return answer{}, apierr.Conflict("account_exists", "an account for %s exists already", in.address)
	}
	// The principal is named after the address. A crash between creating it
	// and the account row leaves a principal without an account: reuse it.
	pr, err := s.auth.CreatePrincipal(ctx, in.address, auth.RoleUser)
	if e, ok := apierr.As(err); err != nil && ok && e.Code == "name_taken" {
		pr, err = s.auth.Principal(ctx, in.address)
		if err == nil && pr.Role != auth.RoleUser {
			return answer{}, apierr.Conflict("account_exists", "the name %s belongs to a %s principal", in.address, pr.Role)
		}
	}
	if err != nil {
		return answer{}, err
	}
	if in.password != "" {
		if err := s.auth.SetPassword(ctx, pr.ID, in.password); err != nil {
			return answer{}, err
		}
	}
	var acc, trusted []string
	applyURLs(&acc, &trusted, in.urls)
	now := s.clock.Now()
	key := ""
	if len(in.keys) == 1 {
		key = in.keys[0]
	}
	err = s.store.AddAccount(ctx, Account{Address: in.address, PrincipalID: pr.ID, PubKey: key, PGP: in.pgp, Bitmessage: in.bitmessage,
		Email: in.email, AccountURLs: acc, TrustedURLs: trusted, Created: now, Updated: now})
	if errors.Is(err, ErrAccountExists) {
		return answer{}, apierr.Conflict("account_exists", "an account for %s exists already", in.address)
	} else if err != nil {
		return answer{}, err
	}
	a, err := s.loadAccount(ctx, in.address)
	return answer{Action: "New", Message: "Account " + in.address + " created", Payload: a.doc()}, err
}

func applyURLs(acc, trusted *[]string, edits []urlEdit) {
	for _, e := range edits {
		l := acc
		if e.list == "trusted" {
			l = trusted
		}
		*l = slices.DeleteFunc(*l, func(u string) bool { return u == e.url })
		if e.op != '-' {
			*l = append(*l, e.url)
		}
	}
}

// accountAdd fills in data the account lacks. A public key is a fact about
// the address (it must hash to it), so anyone may add it; other data only
// the account itself or an admin.
func (s *Service) accountAdd(ctx context.Context, in accountInput) (answer, error) {
	a, err := s.loadAccount(ctx, in.address)
	if err != nil {
		return answer{}, err
	}
	if len(in.keys) == 0 && in.pgp == "" {
		return answer{}, apierr.BadRequest("nothing_to_add", "add takes a Bitcoin public key (key) and/or a PGP public key (pgp)")
	}
	caller, _ := auth.From(ctx)
	if in.pgp != "" && caller.ID != a.PrincipalID && !caller.IsAdmin() {
		return answer{}, apierr.Forbidden("only the account itself (see account/token) or an admin may add its PGP key")
	}
	if len(in.keys) == 1 {
		if a.PubKey != "" && a.PubKey != in.keys[0] {
			return answer{}, apierr.Conflict("key_exists", "the account has a public key already")
		}
		a.PubKey = in.keys[0]
	}
	if in.pgp != "" {
		if a.PGP != "" {
			return answer{}, apierr.Conflict("pgp_exists", "the account has a PGP key already: replace it with account/update")
		}
		a.PGP = in.pgp
	}
	if err := s.store.SetAccountKeys(ctx, a.Address, a.PubKey, a.PGP, s.clock.Now()); err != nil {
		return answer{}, err
	}
	a, err = s.loadAccount(ctx, a.Address)
	return answer{Action: "Add", Message: "Account " + a.Address + " updated", Payload: a.doc()}, err
}

// checkSigned verifies the Bitcoin signed message of an update, delete or
// token request: by the account's key, dated today (UTC, a day either way
// for time zones) where a date is needed, and never seen before.
func (s *Service) checkSigned(ctx context.Context, action string, a Account, in accountInput) error {
	if in.sign == "" {
		return apierr.BadRequest("missing_signature", "%s needs a Bitcoin signed message (sign) of the request text by the account's key", action)
	}
	if action == "token" {
		if in.code == "" || len(in.code) > 256 {
			return apierr.BadRequest("bad_code", "token needs a unique code of 1 to 256 characters to sign")
		}
	} else {
		if !dateRE.MatchString(in.date) {
			return apierr.BadRequest("bad_date", "%s needs the current date as YYYY-MM-DD", action)
		}
		d, err := time.Parse("2006-01-02", in.date)
		if err != nil {
			return apierr.BadRequest("bad_date", "invalid date %q", in.date)
		}
		today := s.clock.Now().UTC().Truncate(24 * time.Hour)
		if diff := d.Sub(today); diff < -24*time.Hour || diff > 24*time.Hour {
			return apierr.BadRequest("stale_date", "the date %s is not today's (%s): sign a fresh request", in.date, today.Format("2006-01-02"))
		}
	}
	addr, _ := s.net.DecodeAddress(a.Address)
	if _, err := s.net.VerifyMessage(addr, in.message, in.sign); err != nil {
		return apierr.New(http.StatusForbidden, "bad_signature", "%v: the signed text was %q", err, clip(in.message))
	}
	h := sha256.Sum256([]byte(action + "\x00" + a.Address + "\x00" + in.message))
	now := s.clock.Now()
	// A dated request is dead after its date's window anyway; a token code
	// has no date, so it is remembered for ever.
	var keep time.Time
	if action != "token" {
		keep = now.Add(72 * time.Hour)
	}
	fresh, err := s.store.UseSigned(ctx, hex.EncodeToString(h[:]), now, keep)
	if err == nil && !fresh {
		err = apierr.Conflict("replayed", "this signed request was used already: sign a new one")
	}
	return err
}

func (s *Service) accountUpdate(ctx context.Context, a Account, in accountInput) (answer, error) {
	if in.pgp != "" {
		a.PGP = in.pgp
	}
	applyURLs(&a.AccountURLs, &a.TrustedURLs, in.urls)
	if err := s.store.SetAccountProfile(ctx, a.Address, a.PGP, a.AccountURLs, a.TrustedURLs, s.clock.Now()); err != nil {
		return answer{}, err
	}
	a, err := s.loadAccount(ctx, a.Address)
	return answer{Action: "Update", Message: "Account " + a.Address + " updated", Payload: a.doc()}, err
}

func (s *Service) accountDelete(ctx context.Context, a Account, in accountInput) (answer, error) {
	if !slices.Contains(in.flags, "-account") {
		return answer{}, apierr.BadRequest("missing_flag", "delete needs the flag -account")
	}
	open, err := s.store.CountDeals(ctx, a.Address, []string{StateCreated, StatePaying, StatePaid})
	if err != nil {
		return answer{}, err
	}
	if open > 0 {
		return answer{}, apierr.Conflict("open_deals", "the account has %d open deal(s): complete or cancel them first", open)
	}
	// Its credentials go first: a crash after this leaves an account nobody
	// can use, which the retried delete then removes.
	toks, err := s.auth.Tokens(ctx, a.PrincipalID)
	if err != nil {
		return answer{}, err
	}
	pr, err := s.auth.Principal(ctx, a.PrincipalID)
	if err != nil {
		return answer{}, err
	}
	for _, t := range toks {
		if err := s.auth.Revoke(ctx, pr, t); err != nil {
			return answer{}, err
		}
	}
	if err := s.auth.ClearPassword(ctx, a.PrincipalID); err != nil {
		return answer{}, err
	}
	if err := s.store.DeleteAccount(ctx, a.Address, a.PrincipalID); err != nil {
		return answer{}, err
	}
	return answer{Action: "Delete", Message: "Account " + a.Address + " deleted", Payload: doc{{"account", doc{{"address", a.Address}, {"deleted", "true"}}}}}, nil
}

// accountToken gives the account's owner, who proved it by signing a code,
// a bearer token and an HMAC session for its principal.
func (s *Service) accountToken(ctx context.Context, a Account, in accountInput) (answer, error) {
	tok, err := s.auth.IssueToken(ctx, a.PrincipalID, "deal module: account/token")
	if err != nil {
		return answer{}, err
	}
	sid, secret, err := s.newSession(ctx, a.PrincipalID)
	if err != nil {
		return answer{}, err
	}
	return answer{Action: "Token", Message: "Access token issued for " + a.Address,
		Payload: doc{{"token", doc{{"address", a.Address}, {"access_token", tok}, {"session", sid}, {"secret", secret}}}}}, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
