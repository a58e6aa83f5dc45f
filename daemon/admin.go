package daemon

import (
	"context"
	"fmt"
	"net"

	"spamgate/admin"
	"spamgate/config"
	"spamgate/milter"
)

// startAdmin starts the admin console when [admin] listen is set. It
// works on the engine in force (d.engine.Load), so that the rules it lists
// and the explain it runs are the milter's. Its listener, TLS and users
// file stay those of the start; a reload changes the rules, not them.
func (d *Daemon) startAdmin(cfg *config.Config) error {
	a := cfg.Admin
	if a.Listen == "" {
		return nil
	}
	c, err := admin.NewConsole(admin.ConsoleOptions{
		Engine: d.engine.Load, UsersFile: a.UsersFile, AuditFile: a.AuditFile, AuditMaxBytes: a.AuditMaxBytes,
		LoginFailures: a.LoginMaxFailures, LoginWindow: a.LoginWindow.Duration, Log: d.log, Metrics: d.metrics,
	})
	if err != nil {
		return err
	}
	ln, err := milter.Listen(a.Listen, 0o660)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	run, err := admin.Serve(ln, admin.NewServer(c, d.log), a, d.log)
	if err != nil {
		ln.Close()
		return err
	}
	d.admin = run
	d.log.Info("admin console started", "listen", a.Listen, "addr", run.Addr().String(), "tls", a.TLSCert != "")
	return nil
}

// AdminAddr is the admin console's address, or nil when it is off.
func (d *Daemon) AdminAddr() net.Addr {
	if d.admin == nil {
		return nil
	}
	return d.admin.Addr()
}

// stopAdmin stops the console, letting requests in flight finish until ctx ends.
func (d *Daemon) stopAdmin(ctx context.Context) error {
	if d.admin == nil {
		return nil
	}
	return d.admin.Shutdown(ctx)
}
