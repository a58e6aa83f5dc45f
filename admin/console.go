package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"spamgate/engine"
	"spamgate/history"
	"spamgate/metrics"
)

// Errors the console's callers map to answers (api.go: HTTP statuses).
var (
	// ErrBadLogin: unknown user or wrong password (which one is not said).
	ErrBadLogin = errors.New("wrong user name or password")
	// ErrRateLimited: too many failed logins from this client; wait.
	ErrRateLimited = errors.New("too many failed logins from this address, try again later")
	// ErrNotFound: no rule (or audit entry …) with that id.
	ErrNotFound = errors.New("not found")
	// ErrNotEditable: the rule comes from the configuration file, a table
	// file or Redis; only the admin source's rules are edited here.
	ErrNotEditable = errors.New("rule is not editable here: it comes from the configuration, a table file or Redis; change it there")
	// ErrUnavailable: the feature is off (no decision history, no admin
	// rules file) or its store cannot be reached.
	ErrUnavailable = errors.New("not available")
)

// ValidationError is a rule or request the console refuses; its message
// is what check-config says of the same rule (api.go answers 400).
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

// ConsoleOptions are what a Console works with.
type ConsoleOptions struct {
	// Engine returns the engine in force (daemon.Engine): the console
	// reads the policy, the admin rule source, the greylist store and runs
	// explain through it, so that it sees what the milter sees.
	Engine func() *engine.Engine
	// History is the decision history; nil means the engine in force's
	// (Engine.History), and without either, decisions, rollout and the
	// dashboard answer ErrUnavailable.
	History history.Store
	// UsersFile holds "name:bcrypt-hash" lines; re-read when it changes.
	UsersFile string
	// AuditFile is the JSON-lines audit log; "" puts it next to the
	// admin rules file (audit.jsonl), or nowhere without one.
	AuditFile string
	// AuditMaxBytes rotates the audit log (one old generation is kept);
	// 0 means DefaultAuditMaxBytes.
	AuditMaxBytes int64
	// LoginFailures failed logins per LoginWindow from one client address
	// are allowed; the next is refused with ErrRateLimited until the
	// window has passed. 0 means 5 per minute.
	LoginFailures int
	LoginWindow   time.Duration
	Log           *slog.Logger
	Metrics       *metrics.Metrics // nil: no metrics
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Console is every admin action, called by both the JSON API and the web
// UI, so that the two cannot disagree.
type Console struct {
	o       ConsoleOptions
	log     *slog.Logger
	now     func() time.Time
	users   *userFile
	limiter *loginLimiter
	audit   *auditLog
	m       *consoleMetrics
}

// NewConsole checks o and builds a Console. The users file must be
// readable now (a console nobody can log in to is a mistake to report
// at start-up).
func NewConsole(o ConsoleOptions) (*Console, error) {
	if o.Engine == nil {
		return nil, errors.New("admin console: no engine")
	}
	c := &Console{o: o, log: o.Log, now: o.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "admin")
	if c.now == nil {
		c.now = time.Now
	}
	var err error
	if c.users, err = openUsers(o.UsersFile); err != nil {
		return nil, fmt.Errorf("admin console: %w", err)
	}
	failures, window := o.LoginFailures, o.LoginWindow
	if failures <= 0 {
		failures = 5
	}
	if window <= 0 {
		window = time.Minute
	}
	c.limiter = newLoginLimiter(failures, window)
	c.audit = newAuditLog(c.auditPath(), o.AuditMaxBytes)
	c.m = newConsoleMetrics(o.Metrics)
	return c, nil
}

// auditPath is where changes are logged: AuditFile, else audit.jsonl
// beside the admin rules file.
func (c *Console) auditPath() string {
	if c.o.AuditFile != "" {
		return c.o.AuditFile
	}
	if rs := c.o.Engine().AdminRules(); rs != nil {
		return auditBeside(rs.Path())
	}
	return ""
}

// Explain runs a transaction through the engine in force, as `spamgate
// explain -json` does: the same input, the same report.
func (c *Console) Explain(ctx context.Context, req ExplainRequest) (*engine.Report, error) {
	eng := c.o.Engine()
	ctx, cancel := context.WithTimeout(ctx, 2*eng.Config().Milter.CheckTimeout.Duration)
	defer cancel()
	rep, err := eng.Explain(ctx, req)
	if err != nil {
		return nil, &ValidationError{Msg: err.Error()}
	}
	return rep, nil
}

// ExplainRequest is a transaction to explain (engine.ExplainRequest).
type ExplainRequest = engine.ExplainRequest

// history is the decision history store, or ErrUnavailable.
func (c *Console) history() (history.Store, error) {
	if c.o.History != nil {
		return c.o.History, nil
	}
	if h := c.o.Engine().History(); h != nil {
		return h, nil
	}
	return nil, fmt.Errorf("decision history: %w ([admin] history_store = \"off\")", ErrUnavailable)
}

// Decisions returns the recorded transactions that match f, newest first.
func (c *Console) Decisions(ctx context.Context, f history.Filter) ([]history.Record, error) {
	h, err := c.history()
	if err != nil {
		return nil, err
	}
	recs, err := h.Query(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("decision history: %w", err)
	}
	return recs, nil
}

// Rollout is the TLS rollout advisor: who delivered to the recipients of
// pattern over cleartext (or below minTLS) in the last days days, and so
// would bounce if a require_tls rule for pattern were switched on.
func (c *Console) Rollout(ctx context.Context, pattern string, days int, minTLS string) ([]history.RolloutRow, error) {
	h, err := c.history()
	if err != nil {
		return nil, err
	}
	if pattern == "" {
		return nil, &ValidationError{Msg: "recipient: a rule's recipient pattern is required (user@example.org, example.org, .example.org or *)"}
	}
	if days <= 0 {
		days = c.o.Engine().Config().Admin.HistoryDays
	}
	if days > 366 {
		return nil, &ValidationError{Msg: fmt.Sprintf("days: %d is not between 1 and 366", days)}
	}
	if err := checkTLSVersion(minTLS); err != nil {
		return nil, err
	}
	rows, err := h.Rollout(ctx, pattern, c.now().Add(-time.Duration(days)*24*time.Hour), minTLS)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	return rows, nil
}

// Dashboard summarizes the last 24 hours: refusals per check, TLS
// versions seen.
func (c *Console) Dashboard(ctx context.Context) (history.Stats, error) {
	h, err := c.history()
	if err != nil {
		return history.Stats{}, err
	}
	st, err := h.Stats(ctx, c.now().Add(-24*time.Hour))
	if err != nil {
		return history.Stats{}, fmt.Errorf("dashboard: %w", err)
	}
	return st, nil
}
