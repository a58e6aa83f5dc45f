package policyredis

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults of Options.
const (
	DefaultKeyPrefix = "spamgate:policy:"
	// DefaultTimeout bounds one lookup: a pipeline is a single round trip,
	// which on a LAN takes well under a millisecond, and a milter must
	// answer Postfix long before its milter_command_timeout.
	DefaultTimeout = 200 * time.Millisecond
)

// Options say where the policy hashes are. The mode is explicit: one
// address is a single server, several are a Cluster only when Cluster is set
// (go-redis would silently make any two addresses a cluster client), and
// MasterName makes the addresses Sentinels.
type Options struct {
	Addresses  []string // "HOST:PORT"; one = single server; several = Cluster only if Cluster is true
	MasterName string   // Sentinel: Addresses are the sentinels, the master is found by this name
	Cluster    bool     // Redis Cluster: Addresses are some of its nodes
	Password   string   // of the Redis server(s); Sentinels are asked without one
	DB         int      // database number; must be 0 for a Cluster
	KeyPrefix  string   // default DefaultKeyPrefix
	// Timeout bounds each call (one round trip), connecting included;
	// default DefaultTimeout.
	Timeout time.Duration
}

// withDefaults checks o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
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
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o, errors.Join(errs...)
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

// universal turns checked Options into go-redis options. Everything that
// could stretch a lookup beyond Timeout is cut down: go-redis's defaults
// (5 s timeouts, 3 retries, 5 dial attempts) suit a cache, not a milter
// that must answer while Postfix waits.
func (o Options) universal() *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:      o.Addresses,
		MasterName: o.MasterName,
		// NewUniversalClient takes MasterName first, then IsClusterMode or
		// several addresses; withDefaults has refused several without either.
		IsClusterMode: o.Cluster,
		Password:      o.Password,
		DB:            o.DB,
		// A new connection costs HELLO, then CLIENT SETNAME (and SELECT) in
		// one pipeline: two round trips. The name shows in CLIENT LIST on a
		// shared server; CLIENT SETINFO (library name and version, one more
		// round trip) and the maintenance-notification handshake (for Redis
		// Enterprise; plain redis-server refuses it, one more round trip)
		// are left out.
		ClientName:               "spamgate-policy",
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
		// caller's deadline on a server that is down.
		MaxRetries:      1,
		MinRetryBackoff: 2 * time.Millisecond,
		MaxRetryBackoff: 20 * time.Millisecond,
		// No dial retries: the next lookup dials again anyway.
		DialerRetries: 1,
	}
}

// where names the servers in errors.
func (o Options) where() string {
	addrs := strings.Join(o.Addresses, ",")
	switch {
	case o.MasterName != "":
		return fmt.Sprintf("master %q via sentinels %s", o.MasterName, addrs)
	case o.Cluster:
		return "cluster " + addrs
	}
	return addrs
}
