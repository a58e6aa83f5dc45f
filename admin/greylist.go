package admin

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"spamgate/engine"
	"spamgate/greylist"
)

// GreylistView is what `spamgate greylist status` shows: whether the
// client counts as suspicious, what a delivery would get now, and the
// stored triplet.
type GreylistView struct {
	Client    string   `json:"client"`
	Sender    string   `json:"sender"`
	Recipient string   `json:"recipient"`
	Suspicion []string `json:"suspicion"` // why the client counts as suspicious; empty: it does not
	Decision  string   `json:"decision,omitempty"`
	Reply     string   `json:"reply,omitempty"` // what the recipient would be told now; "": accepted
	// The stored triplet; zero times when it was never seen.
	FirstSeen *time.Time `json:"first_seen,omitempty"`
	PassedAt  *time.Time `json:"passed_at,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
	// AWLCount is how many triplets of the client's network passed;
	// AWLThreshold is where it is auto-whitelisted.
	AWLCount     int `json:"awl_count"`
	AWLThreshold int `json:"awl_threshold"`
}

// greylistStore is the engine in force's store (the one the milter uses,
// a memory store too).
func (c *Console) greylistStore() (*engine.Engine, greylist.Store, error) {
	eng := c.o.Engine()
	st := eng.GreylistStore()
	if st == nil {
		return nil, nil, fmt.Errorf("greylist: %w (greylisting is off)", ErrUnavailable)
	}
	return eng, st, nil
}

// GreylistStatus is `spamgate greylist status`: explain's view of the
// greylist decision for the triplet, and the stored entry.
func (c *Console) GreylistStatus(ctx context.Context, client, sender, rcpt string) (GreylistView, error) {
	eng, st, err := c.greylistStore()
	if err != nil {
		return GreylistView{}, err
	}
	k, err := engine.GreylistKey(eng.Config(), client, "", sender, rcpt)
	if err != nil {
		return GreylistView{}, &ValidationError{Msg: err.Error()}
	}
	v := GreylistView{Client: client, Sender: sender, Recipient: rcpt, Suspicion: []string{},
		AWLThreshold: eng.Config().Greylist.AWLCount}
	rep, err := c.Explain(ctx, ExplainRequest{Client: client, Helo: client, From: sender, To: []string{rcpt}})
	if err != nil {
		return GreylistView{}, err
	}
	if rep.Suspicion != nil {
		v.Suspicion = rep.Suspicion
	}
	for _, rc := range rep.Recipients {
		for _, vd := range rc.Verdicts {
			if vd.Check == "greylist" {
				v.Decision = vd.Reason
			}
		}
		if rc.Reply != nil {
			v.Reply = rc.Reply.String()
		}
	}
	e, err := st.Status(ctx, k)
	if err != nil {
		return GreylistView{}, fmt.Errorf("greylist status: %w", err)
	}
	v.FirstSeen, v.PassedAt, v.Expires = timeOrNil(e.FirstSeen), timeOrNil(e.PassedAt), timeOrNil(e.Expires)
	v.AWLCount = e.AWLCount
	return v, nil
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// GreylistRelease lets the triplet's next retry pass.
func (c *Console) GreylistRelease(ctx context.Context, user, client, sender, rcpt string) error {
	eng, st, err := c.greylistStore()
	if err != nil {
		return err
	}
	k, err := engine.GreylistKey(eng.Config(), client, "", sender, rcpt)
	if err != nil {
		return &ValidationError{Msg: err.Error()}
	}
	before, err := st.Status(ctx, k)
	if err != nil {
		return fmt.Errorf("greylist release: %w", err)
	}
	if err := st.Release(ctx, k, engine.GreylistParams(eng.Config())); err != nil {
		return fmt.Errorf("greylist release: %w", err)
	}
	target := fmt.Sprintf("%s %s -> %s", client, sender, rcpt)
	c.record(user, "greylist.release", target, tripletState(before), "released: the next retry passes")
	return nil
}

func tripletState(e greylist.Entry) any {
	if e.FirstSeen.IsZero() {
		return nil
	}
	return map[string]any{"first_seen": e.FirstSeen, "passed_at": timeOrNil(e.PassedAt), "expires": e.Expires}
}

// GreylistWhitelist adds (add = true) or removes a whitelist entry: a
// client network (CIDR or an address) or a sender domain; entries added
// here are kept for good.
func (c *Console) GreylistWhitelist(ctx context.Context, user, entry string, add bool) error {
	_, st, err := c.greylistStore()
	if err != nil {
		return err
	}
	entry = strings.TrimSpace(entry)
	network, domain := "", entry
	if looksLikeNetwork(entry) {
		network, domain = entry, ""
	}
	w, err := engine.GreylistWhitelistEntry(network, domain, 0, c.now())
	if err != nil {
		return &ValidationError{Msg: err.Error()}
	}
	if !add {
		if err := st.RemoveWhitelist(ctx, w.Kind, w.Value); err != nil {
			return fmt.Errorf("greylist whitelist: %w", err)
		}
		c.record(user, "greylist.unwhitelist", w.Kind+" "+w.Value, whitelistView(w), nil)
		return nil
	}
	if err := st.AddWhitelist(ctx, w); err != nil {
		return fmt.Errorf("greylist whitelist: %w", err)
	}
	c.record(user, "greylist.whitelist", w.Kind+" "+w.Value, nil, whitelistView(w))
	return nil
}

// GreylistWhitelistEntries lists the whitelist.
func (c *Console) GreylistWhitelistEntries(ctx context.Context) ([]greylist.WhitelistEntry, error) {
	_, st, err := c.greylistStore()
	if err != nil {
		return nil, err
	}
	list, err := st.Whitelist(ctx)
	if err != nil {
		return nil, fmt.Errorf("greylist whitelist: %w", err)
	}
	return list, nil
}

// looksLikeNetwork tells a CIDR or an address from a domain.
func looksLikeNetwork(s string) bool {
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// WhitelistView is a greylist whitelist entry as the API shows it.
type WhitelistView struct {
	Kind    string     `json:"kind"` // network or domain
	Value   string     `json:"value"`
	Expires *time.Time `json:"expires,omitempty"` // absent: for good
}

func whitelistView(e greylist.WhitelistEntry) WhitelistView {
	return WhitelistView{Kind: e.Kind, Value: e.Value, Expires: timeOrNil(e.Expires)}
}
