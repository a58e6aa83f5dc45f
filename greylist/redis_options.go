package greylist

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

// Defaults of RedisOptions.
const (
	DefaultKeyPrefix = "spamgate:gl:"
	// DefaultRedisTimeout bounds one call: a check is one round trip, well
	// under a millisecond on a LAN, and the milter must answer Postfix.
	DefaultRedisTimeout = 200 * time.Millisecond
)

// RedisOptions say where the state is. The mode is explicit, as in
// policyredis: one address is a single server, several are a Cluster only
// when Cluster is set (go-redis would silently make any two addresses a
// cluster client), and MasterName makes the addresses Sentinels.
type RedisOptions struct {
	Addresses  []string // "HOST:PORT"
	MasterName string   // Sentinel: Addresses are the sentinels
	Cluster    bool     // Redis Cluster: Addresses are some of its nodes
	Password   string   // of the Redis server(s)
	DB         int      // must be 0 for a Cluster
	KeyPrefix  string   // default DefaultKeyPrefix
	TLS        bool
	TLSCAFile  string        // PEM CAs to verify the server with; default the system's
	Timeout    time.Duration // bounds each call, connecting included; default DefaultRedisTimeout
	// Now, when set, is the clock of the checks; by default the Redis
	// server's clock is used, so that MX hosts need no synchronized clocks.
	Now func() time.Time
}

// withDefaults checks o and fills in the defaults.
func (o RedisOptions) withDefaults() (RedisOptions, error) {
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
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultRedisTimeout
	}
	return o, errors.Join(errs...)
}

// checkAddress accepts HOST:PORT; go-redis would take a bare or empty
// host and quietly dial localhost.
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

// tlsConfig is nil without TLS. go-redis dials with tls.DialWithDialer,
// which takes the server name from each address, Cluster nodes included.
func (o RedisOptions) tlsConfig() (*tls.Config, error) {
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

// universal turns checked options into go-redis options, everything that
// could stretch a call beyond Timeout cut down: go-redis's defaults (5 s
// timeouts, 3 retries, 5 dial attempts) suit a cache, not a milter.
func (o RedisOptions) universal(tc *tls.Config) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:         o.Addresses,
		MasterName:    o.MasterName,
		IsClusterMode: o.Cluster, // several addresses without it were refused
		Password:      o.Password,
		DB:            o.DB,
		TLSConfig:     tc,
		// No CLIENT SETINFO nor maintenance-notification handshake: each
		// is one more round trip on every new connection, and plain
		// redis-server refuses the latter anyway.
		ClientName:               "spamgate-greylist",
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		// Deadlines of contexts bound socket I/O only with this.
		ContextTimeoutEnabled: true,
		DialTimeout:           o.Timeout,
		ReadTimeout:           o.Timeout,
		WriteTimeout:          o.Timeout,
		PoolTimeout:           o.Timeout,
		// One retry covers a pooled connection the server closed (restart,
		// idle timeout) racing with the request; more would spend the
		// deadline on a server that is down. The check script is safe to
		// retry only if it did not run; go-redis retries only errors
		// before a reply, and a doubled check is at worst an "early".
		MaxRetries:      1,
		MinRetryBackoff: 2 * time.Millisecond,
		MaxRetryBackoff: 20 * time.Millisecond,
		DialerRetries:   1,
	}
}

// where names the servers in errors.
func (o RedisOptions) where() string {
	addrs := strings.Join(o.Addresses, ",")
	switch {
	case o.MasterName != "":
		return fmt.Sprintf("master %q via sentinels %s", o.MasterName, addrs)
	case o.Cluster:
		return "cluster " + addrs
	}
	return addrs
}
