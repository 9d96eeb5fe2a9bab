package deals

import (
	"context"
	"net/http"
)

const helpText = `Bitcoin Payment Service (Prometheus DDS deal module).

Usage: send a message in accordance with the format, as a text/plain body
(the line format below), a form, multipart form or JSON object (the same
fields by name), to POST /api/v1/account/<action>.

Available actions:

  help         : send this help
  status       : show account data (?address=<bitcoin>)
  new          : create account
  add          : adding data to a account (adding missing data)
  update       : updating account data
  token        : get an access token and an HMAC session
  delete       : delete account

Body:
Action         : Message format
  help         : <ignored>
  status       : <ignored>
  new          : <bitcoin><LF>
                 [<key><LF>] |
                 [<PGP><LF>] |
                 [<bitmessage><LF>] | [<email><LF>] |
                 [{account:|trusted:}<LF>]
                 [<url><LF>]
  add          : [<key><LF>] |
                 [<PGP><LF>]
  update       : <yyyy-mm-dd><LF>
                 [<PGP><LF>] |
                 [{account:|trusted:}<LF>]
                 [<url><LF>] |
                 <signature>
  token        : <code><LF>
                 <signature>
  delete       : <yyyy-mm-dd><LF>
                 -account<LF>
                 <signature>
Arguments:
  account      : account URL list (the default list)
  trusted      : trusted URL list
  -account     : delete account

Templates:
  <ignored>    : any text will be ignored
  <LF>         : line feed; format: 0x0a
  <bitcoin>    : bitcoin address; format: [bitcoin:]<string>
                 (for add, update, token and delete: the address parameter)
  <key>        : bitcoin public key (hex); it must be the key of the address
  <PGP>        : PGP public key (armored)
  <yyyy-mm-dd> : current date (UTC)
  <code>       : unique string
  [+|-]<url>   : add(+) or delete(-) URL; format: http[s]://<string>
  <signature>  : bitcoin signed message (base64) of every line before it,
                 joined by LF, made with the account's private key.
                 Sent as a form or JSON, the fields are date, pgp, url,
                 code, flags and sign; the signed text is then the same
                 lines rebuilt in this order: date (or code), the PGP key,
                 the url lines (or the flags).

Deals: POST /api/v1/deal with "order", or POST /api/v1/deal/<order>:
  create       : type, at, date, seller.address, customer.address,
                 payment.sum [, payment.until] [, feedback.leave-before]
                 [, file: a pending DDS file the deal pays for]
  pay          : the deal (id, payment.address or its fields) + payment.txid
                 (with a Bitcoin node, the node sees payments itself)
  confirm      : (admin, no Bitcoin node) the payment is confirmed: Paid
  complete     : the deal (by a party or an admin); with a Bitcoin node it
                 answers the release PSBT (payment.spend.psbt): send it back
                 as psbt, signed by the customer (or by the seller with
                 customer.signature of "complete <deal id>")
  cancel       : the deal + seller.signature of "cancel <deal id>"; a funded
                 deal answers the refund PSBT, sent back as psbt
  feedback     : the deal + feedback.status (positive|neutral|negative),
                 feedback.comments + customer.signature of
                 "feedback <deal id>\n<status>\n<comments>"
  status       : the deal
The payment address is a 2-of-3 P2SH-P2WSH escrow of the seller's key, the
customer's key and the module's key tweaked by the deal's text; the answer
shows its witness script ("script") and P2SH redeem script ("redeem"),
the untweaked module key ("module-pubkey"), "deal-hash" and the deal's
"canonical" text: module-key = module-pubkey + SHA-256(module-pubkey ||
deal-hash)·G, deal-hash = SHA-256(canonical).

Answers are clear-signed with the module's OpenPGP key:
GET /api/v1/signature/key. Check a signed answer: POST /api/v1/signature.
`

func (s *Service) help(ctx context.Context, r *http.Request, p *params) (answer, error) {
	return answer{Action: "Help", Message: "Help", Text: []byte(helpText)}, nil
}
