// Package history is the decision history: one Record per SMTP
// transaction (who connected, over what TLS, from which sender, and what
// happened to each recipient), kept so that an admin can answer "why was
// this mail refused?" and "who would bounce if this recipient required
// TLS?" without grepping logs.
//
// Two stores implement Store: an embedded one (FileStore: append-only day
// segments in a directory, no extra service) and a Redis one (RedisStore:
// every MX host writes to the same Redis, so their decisions are seen
// together). Both take records through Add, which never blocks and never
// fails the caller: the milter path hands the record to a channel and a
// background writer batches it to disk or Redis. A full queue, a full disk
// or a broken Redis drops records (counted), never delays mail.
package history

import (
	"context"
	"time"
)

// Record is one SMTP transaction's facts, as kept in the decision history.
// Every string in it may come from a hostile client (HELO, addresses,
// replies quoting them): whoever renders it must escape it.
type Record struct {
	Time       time.Time   `json:"time"`
	QueueID    string      `json:"queue_id,omitempty"`
	Client     string      `json:"client"` // IP address
	ClientName string      `json:"client_name,omitempty"`
	Helo       string      `json:"helo,omitempty"`
	Sender     string      `json:"sender"`
	TLSVersion string      `json:"tls_version,omitempty"` // "" = cleartext
	Cipher     string      `json:"cipher,omitempty"`
	CipherBits int         `json:"cipher_bits,omitempty"`
	Outbound   bool        `json:"outbound,omitempty"`
	Recipients []Recipient `json:"recipients"`
	Reply      string      `json:"reply,omitempty"` // end-of-message refusal ("550 5.7.1 ..."), "" if none
	Check      string      `json:"check,omitempty"` // the check that refused at end of message
	Score      *float64    `json:"score,omitempty"`
	SPF        string      `json:"spf,omitempty"` // results in short form (e.g. "pass"), "" when not run
	DKIM       string      `json:"dkim,omitempty"`
	DMARC      string      `json:"dmarc,omitempty"`

	// RecipientsOmitted counts the recipients past MaxRecipients, not kept.
	RecipientsOmitted int `json:"recipients_omitted,omitempty"`
}

// MaxRecipients bounds the recipients a Record keeps (Postfix's default
// smtpd_recipient_limit): one transaction cannot make a record, or the
// session holding it, grow without bound.
const MaxRecipients = 1000

// Recipient is one RCPT TO of a transaction and what was decided for it.
type Recipient struct {
	Addr   string `json:"addr"`
	Rule   string `json:"rule,omitempty"`   // source of the policy rule that applied (file:line, redis key, admin:ID)
	Reply  string `json:"reply,omitempty"`  // "" = accepted; else the full reply "550 5.7.10 ..."
	Check  string `json:"check,omitempty"`  // the check that decided (tls, dnsbl, spf, greylist, recipients, policy...)
	Reason string `json:"reason,omitempty"` // free text, for the admin
}

// Filter selects records for Query. Every set field must hold (AND):
//   - Recipient: case-insensitive substring of any recipient's address;
//   - Sender: case-insensitive substring of the envelope sender;
//   - Client: the client IP address, exactly, or a prefix of its text
//     form ending in '.' or ':' ("192.0.2." matches the /24);
//   - QueueID: the Postfix queue id, exactly (case-sensitive);
//   - Since: records at or after this time (zero: the whole history).
//
// Limit caps the answer (0 or out of range: DefaultLimit; at most MaxLimit).
type Filter struct {
	Recipient, Sender, Client, QueueID string
	Since                              time.Time
	Limit                              int
}

// DefaultLimit and MaxLimit bound a Query's answer.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// RolloutRow is one (client, sender domain, TLS version) that delivered to
// the recipients of a pattern below the TLS a rule would require: who would
// bounce if the rule were switched on.
type RolloutRow struct {
	Client       string    `json:"client"`
	SenderDomain string    `json:"sender_domain"`         // "" for the null sender
	TLSVersion   string    `json:"tls_version"`           // "" = cleartext
	Count        int       `json:"count"`                 // transactions
	LastSeen     time.Time `json:"last_seen"`             //
	Recipients   []string  `json:"recipients"`            // a few examples (at most RolloutExamples)
	ClientName   string    `json:"client_name,omitempty"` // the last reverse name seen, if any
}

// RolloutExamples is how many example recipients a RolloutRow lists.
const RolloutExamples = 5

// Stats is the dashboard's summary of a period (normally the last 24 h).
type Stats struct {
	// Refusals counts refused recipients by the check that refused them
	// (a refusal at end of message counts once per recipient it refused).
	Refusals map[string]int `json:"refusals"`
	// TLSVersions counts transactions by TLS version; "cleartext" for none.
	TLSVersions map[string]int `json:"tls_versions"`
	// Transactions is the number of transactions recorded.
	Transactions int `json:"transactions"`
}

// Store keeps the decision history.
type Store interface {
	// Add records a transaction. It never blocks and never fails the
	// caller: the record is queued for a background writer, and dropped
	// (and counted) when the queue is full or the store is broken.
	Add(r Record)
	// Query returns the records that match f, newest first.
	Query(ctx context.Context, f Filter) ([]Record, error)
	// Rollout lists who delivered to recipients matching recipientPattern
	// since the given time over cleartext or TLS below minTLS ("" = any
	// TLS counts as enough): who would bounce if a rule with
	// require_tls = true and min_tls_version = minTLS were switched on.
	// recipientPattern is a rule's recipient key ("user@example.org",
	// "example.org", ".example.org", "*"; a leading '@' is accepted as
	// the domain), matched by the policy package itself. Rows are sorted
	// by Count, highest first.
	Rollout(ctx context.Context, recipientPattern string, since time.Time, minTLS string) ([]RolloutRow, error)
	// Stats summarizes the records since the given time.
	Stats(ctx context.Context, since time.Time) (Stats, error)
	// Close flushes what is queued and releases the store.
	Close() error
}
