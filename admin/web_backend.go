package admin

import (
	"context"

	"spamgate/history"
)

// What the web UI asks of the Console, one small interface per action, so
// that each page says exactly what it needs (and the tests can see which
// Console methods the UI relies on: TestWebConsoleContract).

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
