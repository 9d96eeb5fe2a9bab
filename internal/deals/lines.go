package deals

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/prometheus-dds/dds/internal/apierr"
)

// accountInput is what an account action carries, whichever content type
// it came in.
type accountInput struct {
	address    string
	keys       []string
	pgp        string
	bitmessage []string
	email      string
	password   string
	date       string
	code       string
	flags      []string
	urls       []urlEdit
	sign       string
	message    string // the text the signature covers
}

// urlEdit adds (op '+' or none) or removes (op '-') a URL of a list.
type urlEdit struct {
	list string // "account" or "trusted"
	op   byte
	url  string
}

var (
	hexKeyRE = regexp.MustCompile(`^(0[23][0-9a-fA-F]{64}|04[0-9a-fA-F]{128})$`)
	dateRE   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

const (
	pgpBegin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	pgpEnd   = "-----END PGP PUBLIC KEY BLOCK-----"
)

// parseLines reads the line format of an account action (see the help
// text). The signature, where the action needs one, is the last line and
// covers every line before it.
func parseLines(action, text string) (accountInput, error) {
	var in accountInput
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimRight(l, " \t\r"); strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	bad := func(i int, f string, a ...any) error {
		return apierr.BadRequest("bad_text", "line %d: %s", i+1, fmt.Sprintf(f, a...))
	}
	if len(lines) == 0 {
		return in, apierr.BadRequest("bad_text", "empty message: see /api/v1/help for the format")
	}
	first := 0
	switch action {
	case "new":
		in.address, first = strings.TrimSpace(lines[0]), 1
	case "update", "delete":
		in.date, first = strings.TrimSpace(lines[0]), 1
	case "token":
		in.code, first = strings.TrimSpace(lines[0]), 1
	}
	last := len(lines)
	if needsSignature(action) {
		if len(lines) < 2 {
			return in, apierr.BadRequest("bad_text", "the message must end with a line holding the Bitcoin signature of the lines before it")
		}
		last--
		in.sign = strings.TrimSpace(lines[last])
		in.message = strings.Join(lines[:last], "\n")
	}
	list := "account"
	for i := first; i < last; i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case l == pgpBegin:
			j := i
			for j < last && strings.TrimSpace(lines[j]) != pgpEnd {
				j++
			}
			if j == last {
				return in, bad(i, "PGP key block without its END line")
			}
			in.pgp = strings.Join(lines[i:j+1], "\n") + "\n"
			i = j
		case l == "account:" || l == "trusted:":
			list = strings.TrimSuffix(l, ":")
		case l == "-account" || l == "+account":
			in.flags = append(in.flags, l)
		case hexKeyRE.MatchString(l):
			in.keys = append(in.keys, l)
		case strings.HasPrefix(l, "BM-"):
			in.bitmessage = append(in.bitmessage, l)
		case isURLLine(l):
			e, err := parseURLEdit(list, l)
			if err != nil {
				return in, bad(i, "%v", err)
			}
			in.urls = append(in.urls, e)
		case strings.Contains(l, "@") && !strings.ContainsAny(l, " \t"):
			in.email = l
		default:
			return in, bad(i, "%q is not understood here: see /api/v1/help for the format", clip(l))
		}
	}
	return in, nil
}

func needsSignature(action string) bool {
	return action == "update" || action == "token" || action == "delete"
}

func isURLLine(l string) bool {
	l = strings.TrimLeft(l, "+-")
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

func parseURLEdit(list, l string) (urlEdit, error) {
	e := urlEdit{list: list}
	if l != "" && (l[0] == '+' || l[0] == '-') {
		e.op, l = l[0], l[1:]
	}
	u, err := url.Parse(l)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(l) > 2048 {
		return e, fmt.Errorf("%q is not an http(s) URL", clip(l))
	}
	e.url = u.String()
	return e, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// accountFromParams reads an account action from form, multipart or JSON
// parameters. The signed message is then rebuilt in the line format, so a
// signature means the same whichever way it was sent.
func accountFromParams(action string, p *params) (accountInput, error) {
	in := accountInput{address: p.get("address"), pgp: p.get("pgp"), email: p.get("email"),
		password: p.get("password"), date: p.get("date"), code: p.get("code"), sign: p.get("sign")}
	if in.pgp != "" {
		in.pgp = strings.ReplaceAll(in.pgp, "\r\n", "\n")
		in.pgp = strings.TrimSpace(in.pgp) + "\n"
	}
	for _, k := range p.all("key") {
		if k = strings.TrimSpace(k); k != "" {
			in.keys = append(in.keys, k)
		}
	}
	for _, b := range p.all("bitmessage") {
		if b = strings.TrimSpace(b); b != "" {
			in.bitmessage = append(in.bitmessage, b)
		}
	}
	for _, f := range p.all("flags") {
		in.flags = append(in.flags, strings.Fields(f)...)
	}
	var urlLines []string
	list := "account"
	for _, v := range p.all("url") {
		for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' || r == ' ' || r == ',' }) {
			switch l {
			case "account:", "trusted:":
				list = strings.TrimSuffix(l, ":")
			default:
				e, err := parseURLEdit(list, l)
				if err != nil {
					return in, apierr.BadRequest("bad_url", "%v", err)
				}
				in.urls = append(in.urls, e)
			}
			urlLines = append(urlLines, l)
		}
	}
	switch action {
	case "update":
		m := []string{in.date}
		if in.pgp != "" {
			m = append(m, strings.TrimSpace(in.pgp))
		}
		in.message = strings.Join(append(m, urlLines...), "\n")
	case "delete":
		in.message = strings.Join(append([]string{in.date}, in.flags...), "\n")
	case "token":
		in.message = in.code
	}
	return in, nil
}
