package policyredis

import (
	"time"

	"spamgate/redisconn"
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

// conn is where and how to connect, for redisconn.
func (o Options) conn() redisconn.Options {
	return redisconn.Options{Addresses: o.Addresses, MasterName: o.MasterName, Cluster: o.Cluster,
		Password: o.Password, DB: o.DB, Timeout: o.Timeout, ClientName: "spamgate-policy"}
}

// withDefaults checks o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	err := o.conn().Check()
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o, err
}
