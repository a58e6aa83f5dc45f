package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"spamgate/history"
)

// MaxBodyBytes bounds a request body of the JSON API (a rule, an explain
// request with its header is larger but still far below).
const MaxBodyBytes = 64 << 10

// basicRealm is the realm of the WWW-Authenticate challenge.
const basicRealm = `Basic realm="spamgate admin", charset="UTF-8"`

// apiHandler is an endpoint; user is the authenticated admin.
type apiHandler func(w http.ResponseWriter, r *http.Request, user string) error

// apiRoutes registers the JSON API under /api/v1/. Every route, and every
// other path under /api/v1/, asks for HTTP Basic credentials first.
func (s *Server) apiRoutes(mux *http.ServeMux) {
	c := s.console
	route := func(pattern string, h apiHandler) { mux.Handle(pattern, s.api(pattern, h)) }
	route("GET /api/v1/rules", c.apiRules)
	route("POST /api/v1/rules", c.apiAddRule)
	route("PUT /api/v1/rules/{id}", c.apiUpdateRule)
	route("DELETE /api/v1/rules/{id}", c.apiDeleteRule)
	route("GET /api/v1/lookup", c.apiLookup)
	route("POST /api/v1/explain", c.apiExplain)
	route("GET /api/v1/decisions", c.apiDecisions)
	route("GET /api/v1/rollout", c.apiRollout)
	route("GET /api/v1/dashboard", c.apiDashboard)
	route("GET /api/v1/greylist", c.apiGreylistStatus)
	route("POST /api/v1/greylist/release", c.apiGreylistRelease)
	route("GET /api/v1/greylist/whitelist", c.apiGreylistList)
	route("POST /api/v1/greylist/whitelist", c.apiGreylistWhitelist(true))
	route("DELETE /api/v1/greylist/whitelist", c.apiGreylistWhitelist(false))
	route("GET /api/v1/audit", c.apiAudit)
	route("/api/v1/", func(w http.ResponseWriter, r *http.Request, _ string) error {
		return httpError{http.StatusNotFound, "no such endpoint: " + r.Method + " " + r.URL.Path}
	})
}

// api wraps an endpoint: authentication, the body bound, errors as JSON,
// and the request metric.
func (s *Server) api(pattern string, h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("Cache-Control", "no-store")
		sw.Header().Set("X-Content-Type-Options", "nosniff")
		defer func() { s.console.m.request(pattern, sw.code()) }()
		user, err := s.authenticate(r)
		if err == nil {
			r.Body = http.MaxBytesReader(sw, r.Body, MaxBodyBytes)
			err = h(sw, r, user)
		}
		if err != nil {
			s.writeError(sw, r, err)
		}
	})
}

// authenticate checks HTTP Basic credentials against the users file.
func (s *Server) authenticate(r *http.Request) (string, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", errNoCredentials
	}
	if err := s.console.CheckPassword(r.Context(), user, pass, remoteIP(r)); err != nil {
		return "", err
	}
	return user, nil
}

var errNoCredentials = errors.New("authentication required (HTTP Basic, a user of users_file)")

// remoteIP is the peer's address; headers such as X-Forwarded-For are not
// trusted (the console is not meant to sit behind a proxy).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// httpError is an answer with a given status.
type httpError struct {
	code int
	msg  string
}

func (e httpError) Error() string { return e.msg }

// writeError answers {"error": "..."} with the status the error calls for.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	switch code {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", basicRealm)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(int(s.console.limiter.window/time.Second)))
	case http.StatusInternalServerError, http.StatusServiceUnavailable:
		s.log.Error("admin API", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// statusOf is the HTTP status an error calls for, in the API and on the
// web pages alike.
func statusOf(err error) int {
	var he httpError
	var ve *ValidationError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.code
	case errors.Is(err, errNoCredentials), errors.Is(err, ErrBadLogin):
		return http.StatusUnauthorized
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.As(err, &ve):
		return http.StatusBadRequest
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrNotEditable):
		return http.StatusForbidden
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, "{\"error\": %q}\n", "encode answer: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// statusWriter remembers the status for the request metrics of the API and
// the web pages.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// readJSON decodes a request body into v. The body must say it is JSON: a
// cross-site form cannot send that without a CORS preflight, which this
// server never grants, so a browser holding Basic credentials cannot be
// made to change rules by another site.
func readJSON(r *http.Request, v any, strict bool) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		return httpError{http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)"}
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("body larger than %d bytes: %w", MaxBodyBytes, err)
		}
		return &ValidationError{Msg: "body: " + err.Error()}
	}
	if dec.More() {
		return &ValidationError{Msg: "body: one JSON value expected"}
	}
	return nil
}

// --- rules ---

func (c *Console) apiRules(w http.ResponseWriter, r *http.Request, _ string) error {
	rules, err := c.Rules(r.Context(), r.URL.Query().Get("recipient"))
	if err != nil {
		return err
	}
	if rules == nil {
		rules = []RuleView{}
	}
	writeJSON(w, http.StatusOK, rules)
	return nil
}

func (c *Console) apiAddRule(w http.ResponseWriter, r *http.Request, user string) error {
	var keys map[string]any
	if err := readJSON(r, &keys, false); err != nil {
		return err
	}
	v, err := c.AddRule(r.Context(), user, keys)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/rules/"+v.ID)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (c *Console) apiUpdateRule(w http.ResponseWriter, r *http.Request, user string) error {
	var keys map[string]any
	if err := readJSON(r, &keys, false); err != nil {
		return err
	}
	v, err := c.UpdateRule(r.Context(), user, r.PathValue("id"), keys)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (c *Console) apiDeleteRule(w http.ResponseWriter, r *http.Request, user string) error {
	if err := c.DeleteRule(r.Context(), user, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *Console) apiLookup(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	v, err := c.LookupFor(r.Context(), q.Get("recipient"), q.Get("sender"), q.Get("client"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (c *Console) apiExplain(w http.ResponseWriter, r *http.Request, _ string) error {
	var req ExplainRequest
	if err := readJSON(r, &req, true); err != nil {
		return err
	}
	rep, err := c.Explain(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// --- history ---

func (c *Console) apiDecisions(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	f := history.Filter{Recipient: q.Get("recipient"), Sender: q.Get("sender"), Client: q.Get("client"), QueueID: q.Get("queue_id")}
	var err error
	if f.Since, err = ParseSince(q.Get("since"), c.now()); err != nil {
		return err
	}
	if f.Limit, err = intParam(q.Get("limit"), "limit"); err != nil {
		return err
	}
	recs, err := c.Decisions(r.Context(), f)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []history.Record{}
	}
	writeJSON(w, http.StatusOK, recs)
	return nil
}

// ParseSince reads a since= parameter as the web UI's decisions search
// does: a duration back from now ("24h", "3d") or a time (RFC 3339,
// 2026-12-07, 2026-12-07T10:00 UTC); "" is the whole history.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := parseSince(s, now)
	if err != nil {
		return time.Time{}, &ValidationError{Msg: fmt.Sprintf("since: %q is %v", s, err)}
	}
	return t, nil
}

func intParam(s, name string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, &ValidationError{Msg: fmt.Sprintf("%s: %q is not a whole number", name, s)}
	}
	return n, nil
}

func (c *Console) apiRollout(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	days, err := intParam(q.Get("days"), "days")
	if err != nil {
		return err
	}
	rows, err := c.Rollout(r.Context(), q.Get("recipient"), days, q.Get("min_tls_version"))
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []history.RolloutRow{}
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}

func (c *Console) apiDashboard(w http.ResponseWriter, r *http.Request, _ string) error {
	st, err := c.Dashboard(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// --- greylist ---

// triplet is the body of a release, and the status query's parameters.
type triplet struct {
	Client    string `json:"client"`
	Sender    string `json:"sender"`
	Recipient string `json:"recipient"`
}

func (c *Console) apiGreylistStatus(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	v, err := c.GreylistStatus(r.Context(), q.Get("client"), q.Get("sender"), q.Get("recipient"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (c *Console) apiGreylistRelease(w http.ResponseWriter, r *http.Request, user string) error {
	var t triplet
	if err := readJSON(r, &t, true); err != nil {
		return err
	}
	if err := c.GreylistRelease(r.Context(), user, t.Client, t.Sender, t.Recipient); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": "released: the next retry passes"})
	return nil
}

func (c *Console) apiGreylistList(w http.ResponseWriter, r *http.Request, _ string) error {
	list, err := c.GreylistWhitelistEntries(r.Context())
	if err != nil {
		return err
	}
	out := make([]WhitelistView, len(list))
	for i, e := range list {
		out[i] = whitelistView(e)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apiGreylistWhitelist adds (POST {"entry": "192.0.2.0/24"}) or removes
// (DELETE ?entry=192.0.2.0/24) a whitelist entry.
func (c *Console) apiGreylistWhitelist(add bool) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, user string) error {
		entry := r.URL.Query().Get("entry")
		if add {
			var body struct {
				Entry string `json:"entry"`
			}
			if err := readJSON(r, &body, true); err != nil {
				return err
			}
			entry = body.Entry
		}
		if strings.TrimSpace(entry) == "" {
			return &ValidationError{Msg: "entry: a client network (CIDR) or a sender domain is required"}
		}
		if err := c.GreylistWhitelist(r.Context(), user, entry, add); err != nil {
			return err
		}
		if !add {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		writeJSON(w, http.StatusOK, map[string]string{"result": "whitelisted " + entry})
		return nil
	}
}

// --- audit ---

func (c *Console) apiAudit(w http.ResponseWriter, r *http.Request, _ string) error {
	limit, err := intParam(r.URL.Query().Get("limit"), "limit")
	if err != nil {
		return err
	}
	entries, err := c.Audit(r.Context(), limit)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []AuditEntry{}
	}
	writeJSON(w, http.StatusOK, entries)
	return nil
}
