package policy

import (
	"fmt"
	"net/netip"
)

// Rule is one policy entry: the settings for the recipients its key
// matches, when its optional conditions hold.
type Rule struct {
	// Recipient is "user@example.org", "example.org", ".example.org"
	// (subdomains only) or "*" (every recipient).
	Recipient string
	// Sender is an optional condition: "user@example.com", "example.com",
	// ".example.com" or "<>" (the null sender); "" = any sender.
	Sender string
	// ClientNetwork is an optional condition; the invalid Prefix = any client.
	ClientNetwork netip.Prefix
	Settings
	// Source is where the rule was written, "FILE:LINE", for explain and logs.
	Source string

	// note is what the table parser noticed but did not refuse (a setting
	// given twice on one entry); New turns it into a Warning. A string, so
	// that Rule stays comparable.
	note string
}

// Warning is a problem that does not stop a policy from working, such as a
// rule that can never match.
type Warning struct {
	Source string // the rule's Source
	Msg    string
}

func (w Warning) String() string { return w.Source + ": " + w.Msg }

// compiled is a rule prepared for lookups.
type compiled struct {
	rule   *Rule
	key    string // recipient key in lookup form
	sender senderCond
	client netip.Prefix // masked; invalid = any client
}

// compile checks a rule and prepares it for lookups. A client network with
// host bits set is masked, with a warning, since the admin meant the network.
func compile(r *Rule) (compiled, []Warning, error) {
	c := compiled{rule: r, client: r.ClientNetwork}
	var err error
	if c.key, err = recipientKey(r.Recipient); err != nil {
		return c, nil, err
	}
	if c.sender, err = parseSenderCond(r.Sender); err != nil {
		return c, nil, err
	}
	if err := r.Validate(); err != nil {
		return c, nil, err
	}
	var warns []Warning
	if r.note != "" {
		warns = append(warns, Warning{r.Source, r.note})
	}
	if c.client.IsValid() && c.client != c.client.Masked() {
		c.client = c.client.Masked()
		warns = append(warns, Warning{r.Source, fmt.Sprintf("client_network %s has host bits set; using %s", r.ClientNetwork, c.client)})
	}
	return c, warns, nil
}

// matches reports whether the rule's conditions hold for a transaction.
func (c *compiled) matches(rawSender string, sender *lazyAddress, client netip.Addr) bool {
	if c.client.IsValid() && !c.client.Contains(client) {
		return false
	}
	return c.sender.kind == anySender || c.sender.match(rawSender, sender.get())
}

// conditional reports whether the rule has any condition.
func (c *compiled) conditional() bool {
	return c.sender.kind != anySender || c.client.IsValid()
}

// lazyAddress splits the sender only when a rule has a sender condition:
// most lookups never need it.
type lazyAddress struct {
	raw  string
	done bool
	a    address
}

func (l *lazyAddress) get() *address {
	if !l.done {
		l.a, l.done = splitAddress(l.raw), true
	}
	return &l.a
}
