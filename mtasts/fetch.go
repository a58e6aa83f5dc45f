package mtasts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// maxHeaderBytes bounds the response header of a policy fetch.
const maxHeaderBytes = 32 << 10

// newHTTPClient returns the HTTP client of policy fetches (RFC 8461 3.3): its own
// resolver and roots, TLS 1.2 or better (7.2), no proxy, no redirects, no connection
// reuse (a fetch is rare; a pooled connection would outlive a policy host's address).
func (c *Client) newHTTPClient() *http.Client {
	tr := &http.Transport{
		DialContext:            c.dial,
		TLSClientConfig:        &tls.Config{RootCAs: c.opts.RootCAs, MinVersion: tls.VersionTLS12},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	return &http.Client{
		Transport: tr,
		// "HTTP 3xx redirects MUST NOT be followed" (3.3): the 3xx itself comes back and
		// fails the status check.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// policyURL is where the policy of domain lives (3.3).
func policyURL(domain string) string {
	return "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
}

// fetch gets and parses the policy of domain within Options.Timeout.
func (c *Client) fetch(ctx context.Context, domain string) (*Policy, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	u := policyURL(domain)
	body, err := c.get(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("mtasts: fetch %s: %w", u, err)
	}
	p, err := ParsePolicy(body)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, u)
	}
	return p, nil
}

// get returns the body of a 200 text/plain response to GET url.
func (c *Client) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	defer resp.Body.Close()
	// "only valid if the HTTP response code is 200 (OK)" (3.3).
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %q, want 200 (redirects are not followed)", resp.Status)
	}
	if err := checkMediaType(resp.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	return readBody(resp.Body, c.opts.MaxBodySize)
}

// checkMediaType requires text/plain (3.2: the policy is served as "text/plain");
// parameters such as charset are allowed.
func checkMediaType(ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "text/plain" {
		return fmt.Errorf("Content-Type %q, want text/plain", ct)
	}
	return nil
}

// readBody reads at most limit bytes; a longer body is an error.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("policy larger than %d bytes", limit)
	}
	return body, nil
}

// unwrapURLError drops net/http's "Get URL:" wrapping, as the caller names the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
