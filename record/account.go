package record

import (
	"context"
	"encoding/json"
	"math/big"
	"slices"
	"strings"

	"github.com/carebridge/carebridge/fhirstore"
)

// accountsOf lists the Accounts a resource changes the balance of.
func accountsOf(typ string, body map[string]any) []string {
	var out []string
	switch typ {
	case "Account":
		out = append(out, "Account/"+str(body, "id"))
	case "ChargeItem":
		for _, a := range list(body, "account") {
			out = append(out, str(a.(map[string]any), "reference"))
		}
	case "PaymentReconciliation":
		for _, e := range list(body, "extension") {
			x, _ := e.(map[string]any)
			if str(x, "url") == AccountURL {
				out = append(out, str(obj(x, "valueReference"), "reference"))
			}
		}
	}
	return slices.DeleteFunc(out, func(s string) bool {
		k, ok := parseRef(s)
		return !ok || k.typ != "Account"
	})
}

// balance recomputes an Account's balance from its charges (credits and
// adjustments are negative charges) minus its payments, exactly (decimal
// arithmetic), and records it on the Account.
func (p *plan) balance(ctx context.Context, ref string) error {
	k, _ := parseRef(ref)
	acc, err := p.get(ctx, k)
	if err != nil || acc.current() == nil {
		return err
	}
	// One balance per currency: amounts in different currencies are never
	// added up (an amount without a currency counts in the account's only
	// currency, if there is one).
	totals := map[string]*big.Rat{}
	add := func(money map[string]any, sign int) {
		v, ok := decimal(money["value"])
		if !ok {
			return
		}
		if sign < 0 {
			v.Neg(v)
		}
		c := str(money, "currency")
		if totals[c] == nil {
			totals[c] = new(big.Rat)
		}
		totals[c].Add(totals[c], v)
	}
	// Not checked searches: a charge another worker adds meanwhile also
	// rewrites this Account's balance, and the Account's version check
	// makes one of the two plans start over.
	charges, err := p.searchAll(ctx, fhirstore.Query{Type: "ChargeItem", Params: []fhirstore.Param{{Name: "account", Values: []string{ref}}}}, false)
	if err != nil {
		return err
	}
	payments, err := p.searchAll(ctx, fhirstore.Query{Type: "PaymentReconciliation", Params: []fhirstore.Param{{Name: "account", Values: []string{ref}}}}, false)
	if err != nil {
		return err
	}
	// Items of this message are not committed yet: the plan's own states
	// are counted too, once.
	seen := map[key]bool{}
	for _, s := range append(charges, payments...) {
		seen[s.key] = true
	}
	for _, k := range p.order {
		s := p.res[k]
		if !seen[k] && s.body != nil && slices.Contains(accountsOf(k.typ, s.body), ref) {
			if k.typ == "ChargeItem" {
				charges = append(charges, s)
			} else if k.typ == "PaymentReconciliation" {
				payments = append(payments, s)
			}
		}
	}
	for _, c := range charges {
		b := c.current()
		if b == nil || str(b, "status") == "entered-in-error" || !slices.Contains(accountsOf("ChargeItem", b), ref) {
			continue
		}
		if m := obj(b, "priceOverride"); m != nil {
			add(m, 1)
		}
	}
	for _, pay := range payments {
		b := pay.current()
		if b == nil || str(b, "status") == "entered-in-error" || str(b, "status") == "cancelled" || !slices.Contains(accountsOf("PaymentReconciliation", b), ref) {
			continue
		}
		if m := obj(b, "paymentAmount"); m != nil {
			add(m, -1)
		}
	}
	if len(totals) == 2 && totals[""] != nil {
		for c, v := range totals {
			if c != "" {
				v.Add(v, totals[""])
			}
		}
		delete(totals, "")
	}
	if len(totals) == 0 {
		totals[""] = new(big.Rat)
	}
	body := cloneJSONMap(acc.current())
	exts := slices.DeleteFunc(slices.Clone(list(body, "extension")), func(e any) bool {
		x, _ := e.(map[string]any)
		return str(x, "url") == BalanceURL
	})
	currencies := make([]string, 0, len(totals))
	for c := range totals {
		currencies = append(currencies, c)
	}
	slices.Sort(currencies)
	for _, c := range currencies {
		money := map[string]any{"value": json.Number(totals[c].FloatString(2))}
		if c != "" {
			money["currency"] = c
		}
		exts = append(exts, map[string]any{"url": BalanceURL, "valueMoney": money})
	}
	body["extension"] = exts
	if !Equal(acc.current(), body) {
		p.set(acc, body)
	}
	return nil
}

// decimal reads a JSON number exactly.
func decimal(v any) (*big.Rat, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case float64:
		return new(big.Rat).SetFloat64(x), true
	case int:
		return new(big.Rat).SetInt64(int64(x)), true
	case int64:
		return new(big.Rat).SetInt64(x), true
	default:
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// Balance returns an Account's recorded balance as a decimal string and
// its currency ("", "" when none is recorded); for an account with
// amounts in several currencies, the first (by currency code) — see
// Balances.
func Balance(account map[string]any) (value, currency string) {
	for _, e := range list(account, "extension") {
		x, _ := e.(map[string]any)
		if str(x, "url") == BalanceURL {
			m := obj(x, "valueMoney")
			v, _ := decimal(m["value"])
			if v == nil {
				return "", ""
			}
			return v.FloatString(2), str(m, "currency")
		}
	}
	return "", ""
}

// Balances returns every balance recorded on an Account: one per currency.
func Balances(account map[string]any) []Money {
	var out []Money
	for _, e := range list(account, "extension") {
		x, _ := e.(map[string]any)
		if str(x, "url") != BalanceURL {
			continue
		}
		m := obj(x, "valueMoney")
		if v, ok := decimal(m["value"]); ok {
			out = append(out, Money{Value: v.FloatString(2), Currency: str(m, "currency")})
		}
	}
	return out
}

// Money is an amount and its currency code ("" when unknown).
type Money struct {
	Value    string `json:"value"`
	Currency string `json:"currency,omitempty"`
}

// billVisitItems puts on a visit's Account the charges and payments of that
// visit which name no Account: they came before the message that gave the
// visit its Account (a DFT before the ADT; a DFT without PID-18 for a visit
// opened without PV1-19). Only when this plan gives the visit an Account it
// did not name before: the other messages cost nothing. The accounts whose
// balance changes are added to accounts.
func (p *plan) billVisitItems(ctx context.Context, enc *state, accounts map[string]bool) error {
	cur := encounterAccounts(enc.current())
	if len(cur) == 0 {
		return nil
	}
	var had []string
	if enc.stored != nil {
		had = encounterAccounts(enc.stored)
	}
	if !slices.ContainsFunc(cur, func(a string) bool { return !slices.Contains(had, a) }) {
		return nil
	}
	visit := enc.ref()
	var items []*state
	for _, q := range []fhirstore.Query{
		{Type: "ChargeItem", Params: []fhirstore.Param{{Name: "context", Values: []string{visit}}}},
		{Type: "PaymentReconciliation", Params: []fhirstore.Param{{Name: "encounter", Values: []string{visit}}}},
	} {
		// Checked: an item of the visit another worker adds meanwhile
		// (a DFT routed by another identifier than this ADT) makes this
		// plan start over and bill it too; the other plan, having seen
		// the visit without an Account, checks that it still has none
		// (visitAccount).
		found, err := p.searchAll(ctx, q, true)
		if err != nil {
			return err
		}
		items = append(items, found...)
	}
	// And this message's own, which the store does not know yet (a map
	// that makes the visit's Account after its charges).
	for _, st := range p.made("ChargeItem", "PaymentReconciliation") {
		if !slices.Contains(items, st) && (str(obj(st.body, "context"), "reference") == visit || hasVisit(st.body, visit)) {
			items = append(items, st)
		}
	}
	for _, it := range items {
		b := it.current()
		if b == nil || len(accountsOf(it.typ, b)) > 0 || str(b, "status") == "entered-in-error" {
			continue
		}
		body := cloneJSONMap(b)
		billTo(it.typ, body, cur)
		p.set(it, body)
		for _, a := range cur {
			accounts[a] = true
		}
		p.note("account", it.ref(), "billed to %s: its visit's account arrived after it", strings.Join(cur, ", "))
	}
	return nil
}

// hasVisit reports whether a payment waits for visit's Account (its
// VisitURL extension names visit).
func hasVisit(body map[string]any, visit string) bool {
	for _, e := range list(body, "extension") {
		x, _ := e.(map[string]any)
		if str(x, "url") == VisitURL && str(obj(x, "valueReference"), "reference") == visit {
			return true
		}
	}
	return false
}
