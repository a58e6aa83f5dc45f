package config

import (
	"net/netip"
	"time"
)

// Admin is the [admin] table: the policy admin console (JSON API and web
// UI) and the decision history behind it. Off unless Listen is set; the
// history is kept even without the console when HistoryStore says so.
type Admin struct {
	// --- console (admin/) ---

	// Listen is a Postfix-style address ("inet:127.0.0.1:8893"); "" turns
	// the console off. A non-loopback address needs TLSCert and TLSKey.
	Listen  string `toml:"listen"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// UsersFile holds one "name:bcrypt-hash" per line
	// (`spamgate admin passwd NAME -file FILE`).
	UsersFile string `toml:"users_file"`
	// RulesFile is the admin-managed rule table that spamgate owns and
	// writes atomically: a fourth rule source.
	RulesFile string `toml:"rules_file"`
	// AuditFile is the JSON-lines log of every change made through the
	// console; "" puts it beside rules_file (audit.jsonl).
	AuditFile string `toml:"audit_file"`
	// AuditMaxBytes rotates the audit log (one old generation, FILE.1).
	AuditMaxBytes int64 `toml:"audit_max_bytes"`
	// LoginMaxFailures failed logins per LoginWindow are allowed from one
	// client address (an IPv6 /64); then 429 until the window has passed.
	LoginMaxFailures int      `toml:"login_max_failures"`
	LoginWindow      Duration `toml:"login_window"`

	// --- decision history (history/) ---

	// HistoryStore: "file" (embedded, default), "redis" (shared by every
	// MX host), or "off".
	HistoryStore string `toml:"history_store"`
	// HistoryDays is how long a transaction's record is kept.
	HistoryDays int `toml:"history_days"`
	// HistoryDir is where the "file" store keeps its segments.
	HistoryDir string `toml:"history_dir"`
	// HistoryMaxBytes caps the store; the oldest records go first.
	HistoryMaxBytes int64 `toml:"history_max_bytes"`
	// HistoryRedis is where history_store = "redis" keeps the history.
	HistoryRedis HistoryRedis `toml:"history_redis"`
}

// HistoryRedis is the [admin.history_redis] table: the Redis every MX
// host writes its decisions to, as [greylist.redis] is shaped.
type HistoryRedis struct {
	Addresses    []string `toml:"addresses"`     // "HOST:PORT"
	MasterName   string   `toml:"master_name"`   // Sentinel: addresses are the sentinels
	Cluster      bool     `toml:"cluster"`       // several addresses form a Redis Cluster
	PasswordFile string   `toml:"password_file"` // the password, alone in a file
	DB           int      `toml:"db"`
	KeyPrefix    string   `toml:"key_prefix"` // one list per day: PREFIX + "YYYYMMDD"
	TLS          bool     `toml:"tls"`
	TLSCAFile    string   `toml:"tls_ca_file"` // "" : the system's CAs
	// Timeout bounds one call of the background writer or of a console
	// query; the milter path never waits for it.
	Timeout Duration `toml:"timeout"`
}

func defaultAdmin() Admin {
	return Admin{HistoryStore: "file", HistoryDays: 14, HistoryDir: "/var/lib/spamgate/history", HistoryMaxBytes: 64 << 20,
		HistoryRedis:  HistoryRedis{KeyPrefix: "spamgate:history:", Timeout: Duration{time.Second}},
		AuditMaxBytes: 16 << 20, LoginMaxFailures: 5, LoginWindow: Duration{time.Minute}}
}

func (c *Config) validateAdmin(bad func(key, format string, args ...any)) {
	a := c.Admin
	switch a.HistoryStore {
	case "file", "redis", "off":
	default:
		bad("admin.history_store", "%q is not file, redis or off", a.HistoryStore)
	}
	if a.HistoryDays < 1 || a.HistoryDays > 366 {
		bad("admin.history_days", "%d is not between 1 and 366", a.HistoryDays)
	}
	if a.HistoryMaxBytes < 1<<20 {
		bad("admin.history_max_bytes", "%d is below 1048576 (1 MiB)", a.HistoryMaxBytes)
	}
	c.validateHistoryRedis(bad)
	if a.AuditMaxBytes < 64<<10 {
		bad("admin.audit_max_bytes", "%d is below 65536 (64 KiB)", a.AuditMaxBytes)
	}
	if a.LoginMaxFailures < 1 || a.LoginMaxFailures > 1000 {
		bad("admin.login_max_failures", "%d is not between 1 and 1000", a.LoginMaxFailures)
	}
	positive(bad, "admin.login_window", a.LoginWindow, 24*time.Hour)
	if a.Listen == "" {
		return
	}
	network, addr, err := ParseListen(a.Listen)
	if err != nil {
		bad("admin.listen", "%v", err)
		return
	}
	if a.UsersFile == "" {
		bad("admin.users_file", "is required when admin.listen is set")
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		bad("admin.tls_cert", "tls_cert and tls_key go together")
	}
	if network == "tcp" && a.TLSCert == "" && !loopbackHostPort(addr) {
		bad("admin.listen", "%q is not a loopback address: set tls_cert and tls_key", a.Listen)
	}
}

// loopbackHostPort reports whether HOST:PORT names a loopback address.
func loopbackHostPort(hostport string) bool {
	ap, err := netip.ParseAddrPort(hostport)
	return err == nil && ap.Addr().IsLoopback()
}

// validateHistoryRedis checks [admin.history_redis]: addresses are needed
// only by history_store = "redis", but what is given must make sense.
func (c *Config) validateHistoryRedis(bad func(key, format string, args ...any)) {
	r := c.Admin.HistoryRedis
	if c.Admin.HistoryStore == "redis" && len(r.Addresses) == 0 {
		bad("admin.history_redis.addresses", "history_store = \"redis\" needs at least one address")
	}
	validateRedis(bad, "admin.history_redis", r.Addresses, r.Cluster, r.MasterName)
	if r.KeyPrefix == "" {
		bad("admin.history_redis.key_prefix", "is empty: the history would share keys with everything else")
	}
	if r.Cluster && r.DB != 0 {
		bad("admin.history_redis.db", "%d: a Redis Cluster has only database 0", r.DB)
	}
	if r.TLSCAFile != "" && !r.TLS {
		bad("admin.history_redis.tls_ca_file", "is set without tls = true")
	}
	positive(bad, "admin.history_redis.timeout", r.Timeout, time.Minute)
}

// HistoryTTL is HistoryDays as a duration.
func (a Admin) HistoryTTL() time.Duration { return time.Duration(a.HistoryDays) * 24 * time.Hour }
