// Package redisconn builds the go-redis clients of spamgate's Redis users
// (policy rules, greylisting) by the same rules: the mode (single server,
// Sentinel, Cluster) is explicit, never guessed from the number of
// addresses, and nothing lets a call run past the caller's deadline.
package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Options say where the servers are and how long a call may take.
type Options struct {
	Addresses  []string // "HOST:PORT"; one = single server; several = Cluster only if Cluster is true
	MasterName string   // Sentinel: Addresses are the sentinels, the master is found by this name
	Cluster    bool     // Redis Cluster: Addresses are some of its nodes
	Password   string   // of the Redis server(s); Sentinels are asked without one
	DB         int      // database number; must be 0 for a Cluster
	TLS        bool
	TLSCAFile  string        // PEM CAs to verify the servers with; default the system's
	Timeout    time.Duration // bounds each call (one round trip), connecting included
	ClientName string        // shown in CLIENT LIST on a shared server
}

// Check reports every option that makes no sense, joined.
func (o Options) Check() error {
	var errs []error
	if len(o.Addresses) == 0 {
		errs = append(errs, errors.New("no address"))
	}
	for _, a := range o.Addresses {
		if err := checkAddress(a); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case o.Cluster && o.MasterName != "":
		errs = append(errs, errors.New("cluster and master_name (Sentinel) exclude each other"))
	case len(o.Addresses) > 1 && !o.Cluster && o.MasterName == "":
		errs = append(errs, fmt.Errorf("%d addresses for a single server: set cluster for a Redis Cluster, or master_name for Sentinels", len(o.Addresses)))
	}
	if o.Cluster && o.DB != 0 {
		errs = append(errs, fmt.Errorf("db %d: a Redis Cluster has only database 0", o.DB))
	}
	if o.DB < 0 {
		errs = append(errs, fmt.Errorf("db %d is negative", o.DB))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", o.Timeout))
	}
	if o.TLSCAFile != "" && !o.TLS {
		errs = append(errs, errors.New("tls_ca_file without tls"))
	}
	return errors.Join(errs...)
}

// checkAddress accepts HOST:PORT; go-redis would take a bare host or an
// empty one and quietly dial localhost.
func checkAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("address %q: %w (want HOST:PORT)", a, err)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q: port %q is not a number from 1 to 65535", a, port)
	}
	return nil
}

// New checks o and makes a client; it does not connect.
func New(o Options) (redis.UniversalClient, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	u, err := o.Universal()
	if err != nil {
		return nil, err
	}
	if o.Cluster {
		co := u.Cluster()
		co.ClusterStateReloadInterval = ClusterStateReload
		return redis.NewClusterClient(co), nil
	}
	return redis.NewUniversalClient(u), nil
}

// ClusterStateReload is how stale a Cluster client's slot map may get.
// go-redis reloads it at once on a MOVED or ASK reply, but a master that
// died answers nothing: its slots stay mapped to it until the periodic
// reload, 60 s by default (v9.23), long after the replica was promoted
// (2-5 s with cluster-node-timeout 2000). The reload is one CLUSTER SLOTS,
// in the background, at most once per interval and only while commands
// are sent.
const ClusterStateReload = time.Second

// Universal turns checked Options into go-redis options. Everything that
// could stretch a call beyond Timeout is cut down: go-redis's defaults
// (5 s timeouts, 3 retries, 5 dial attempts) suit a cache, not a milter
// that must answer while Postfix waits.
func (o Options) Universal() (*redis.UniversalOptions, error) {
	tc, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &redis.UniversalOptions{
		Addrs:      o.Addresses,
		MasterName: o.MasterName,
		// NewUniversalClient takes MasterName first, then IsClusterMode or
		// several addresses; Check refuses several without either.
		IsClusterMode: o.Cluster,
		Password:      o.Password,
		DB:            o.DB,
		TLSConfig:     tc,
		// A new connection costs HELLO, then CLIENT SETNAME (and SELECT) in
		// one pipeline: two round trips. CLIENT SETINFO (one more round
		// trip) and the maintenance-notification handshake (for Redis
		// Enterprise; plain redis-server refuses it) are left out.
		ClientName: o.ClientName,
		// RESP2: under RESP3 go-redis peeks at every reply for push
		// notifications (about 2.6 % of the milter's CPU); spamgate
		// subscribes to nothing.
		Protocol:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		// The context of each call carries the deadline, and it bounds
		// socket I/O only with ContextTimeoutEnabled.
		ContextTimeoutEnabled: true,
		DialTimeout:           o.Timeout,
		ReadTimeout:           o.Timeout,
		WriteTimeout:          o.Timeout,
		PoolTimeout:           o.Timeout,
		// go-redis drops a pooled connection the server has closed (a
		// restart, its idle timeout) before using it; one retry covers a
		// close that races with the request. More would only spend the
		// caller's deadline on a server that is down. go-redis retries
		// only errors before a reply.
		MaxRetries:      1,
		MinRetryBackoff: 2 * time.Millisecond,
		MaxRetryBackoff: 20 * time.Millisecond,
		// No dial retries: the next call dials again anyway.
		DialerRetries: 1,
	}, nil
}

// tlsConfig is nil without TLS. go-redis dials with tls.DialWithDialer,
// which takes the server name from each address, Cluster nodes included.
func (o Options) tlsConfig() (*tls.Config, error) {
	if !o.TLS {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLSCAFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(o.TLSCAFile)
	if err != nil {
		return nil, fmt.Errorf("tls_ca_file: %w", err)
	}
	c.RootCAs = x509.NewCertPool()
	if !c.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls_ca_file %s: no PEM certificate in it", o.TLSCAFile)
	}
	return c, nil
}

// Misconfigured tells a connection error that retrying cannot cure from
// an outage: the server's certificate does not verify against the CA
// (tls_ca_file), names another host, has expired, or the server does not
// speak TLS at all (or speaks it where the client does not). Such an error
// at start-up must stop the start: failing open on it would turn
// greylisting off, silently and for good. It returns err, explained, or
// nil for any other error (a server that is down or slow is an outage:
// on_store_error applies).
func Misconfigured(err error, o Options) error {
	if err == nil {
		return nil
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verify     *tls.CertificateVerificationError
		recordHdr  tls.RecordHeaderError
		alert      tls.AlertError
		caFile     = o.TLSCAFile
		plainReply = o.TLS && strings.Contains(err.Error(), "first record does not look like a TLS handshake")
	)
	if caFile == "" {
		caFile = "the system's CAs"
	}
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &verify) && errors.As(verify.Err, &unknownCA):
		return fmt.Errorf("TLS: the server's certificate is not signed by a CA in %s (tls_ca_file): %w", caFile, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("TLS: the server's certificate is not valid for the address dialed: %w", err)
	case errors.As(err, &invalid), errors.As(err, &verify):
		return fmt.Errorf("TLS: the server's certificate does not verify against %s (tls_ca_file): %w", caFile, err)
	case errors.As(err, &recordHdr), plainReply:
		return fmt.Errorf("TLS: the server does not speak TLS on this port (tls = true): %w", err)
	case errors.As(err, &alert):
		return fmt.Errorf("TLS: the server refused the handshake (a client certificate required?): %w", err)
	}
	// A plain-text client on a TLS port sees the connection closed, as in
	// a restart: not told apart, so never a refusal to start.
	return nil
}

// Where names the servers in errors.
func (o Options) Where() string {
	addrs := strings.Join(o.Addresses, ",")
	switch {
	case o.MasterName != "":
		return fmt.Sprintf("master %q via sentinels %s", o.MasterName, addrs)
	case o.Cluster:
		return "cluster " + addrs
	}
	return addrs
}
