package milter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"spamgate/config"
)

// Listen opens a Postfix-style address: "inet:HOST:PORT" or "unix:PATH".
// A stale unix socket left by a crashed process is removed, but only when it
// is a socket and nothing answers on it; a live one is an error.
func Listen(addr string, mode os.FileMode) (net.Listener, error) {
	network, address, err := config.ParseListen(addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := removeStaleSocket(address); err != nil {
			return nil, err
		}
	}
	// No TCP keep-alive: Postfix's connections are closed by the idle
	// timeout (Server.IdleTimeout), and turning keep-alive on costs four
	// setsockopt calls on every accepted connection, one per message.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), network, address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if network == "unix" {
		if err := os.Chmod(address, mode); err != nil {
			ln.Close()
			return nil, fmt.Errorf("set mode of %s: %w", address, err)
		}
	}
	return ln, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; not removing it", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: another process is listening on it", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}
