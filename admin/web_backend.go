package admin

import (
	"context"

	"spamgate/greylist"
	"spamgate/history"
)

// What the web UI asks of the Console: one small interface per page, so
// that each page's needs are named, gathered in webConsole, which the
// Console implements (the tests stand in for it with fixed data).

type passwordChecker interface {
	CheckPassword(ctx context.Context, user, pass, clientIP string) error
}

type dashboarder interface {
	Dashboard(ctx context.Context) (history.Stats, error)
}

type decisionSearcher interface {
	Decisions(ctx context.Context, f history.Filter) ([]history.Record, error)
}

type rolloutAdvisor interface {
	Rollout(ctx context.Context, pattern string, days int, minTLS string) ([]history.RolloutRow, error)
}

type ruleEditor interface {
	Rules(ctx context.Context, recipientFilter string) ([]RuleView, error)
	AddRule(ctx context.Context, user string, keys map[string]any) (RuleView, error)
	UpdateRule(ctx context.Context, user, id string, keys map[string]any) (RuleView, error)
	DeleteRule(ctx context.Context, user, id string) error
}

type ruleLooker interface {
	Lookup(ctx context.Context, rcpt string) (LookupView, error)
}

type auditReader interface {
	Audit(ctx context.Context, limit int) ([]AuditEntry, error)
}

type greylistAdmin interface {
	GreylistStatus(ctx context.Context, client, sender, rcpt string) (GreylistView, error)
	GreylistRelease(ctx context.Context, user, client, sender, rcpt string) error
	GreylistWhitelist(ctx context.Context, user, entry string, add bool) error
	GreylistWhitelistEntries(ctx context.Context) ([]greylist.WhitelistEntry, error)
}

// webConsole is every Console action the web UI uses.
type webConsole interface {
	passwordChecker
	dashboarder
	decisionSearcher
	rolloutAdvisor
	ruleEditor
	ruleLooker
	auditReader
	greylistAdmin
}

var _ webConsole = (*Console)(nil)
