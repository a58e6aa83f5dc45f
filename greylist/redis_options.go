package greylist

import (
	"time"

	"spamgate/redisconn"
)

// Defaults of RedisOptions.
const (
	DefaultKeyPrefix = "spamgate:gl:"
	// DefaultRedisTimeout bounds one call: a check is one round trip, well
	// under a millisecond on a LAN, and the milter must answer Postfix.
	DefaultRedisTimeout = 200 * time.Millisecond
)

// RedisOptions say where the state is. The mode is explicit (redisconn):
// one address is a single server, several are a Cluster only when Cluster
// is set, and MasterName makes the addresses Sentinels.
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

// conn is where and how to connect, for redisconn.
func (o RedisOptions) conn() redisconn.Options {
	return redisconn.Options{Addresses: o.Addresses, MasterName: o.MasterName, Cluster: o.Cluster,
		Password: o.Password, DB: o.DB, TLS: o.TLS, TLSCAFile: o.TLSCAFile, Timeout: o.Timeout,
		ClientName: "spamgate-greylist"}
}

// withDefaults checks o and fills in the defaults.
func (o RedisOptions) withDefaults() (RedisOptions, error) {
	err := o.conn().Check()
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultRedisTimeout
	}
	return o, err
}
