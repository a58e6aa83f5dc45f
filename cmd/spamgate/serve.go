package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/redis/go-redis/v9"

	"spamgate/daemon"
)

func serve(args []string, stderr io.Writer) int {
	cfg, _, code := configFromFlags("serve", "configuration file (TOML); built-in defaults when empty", args, stderr)
	if cfg == nil {
		return code
	}
	logger, level := daemon.NewLogger(cfg.Log, stderr)
	// go-milter reports protocol errors through the standard log package,
	// go-redis connection trouble through its own logger: both into slog.
	log.SetFlags(0)
	log.SetOutput(slog.NewLogLogger(logger.Handler(), slog.LevelWarn).Writer())
	redis.SetLogger(redisLogger{logger})
	tuneGC()

	// Before starting: a SIGHUP that comes early must not kill the process
	// (its default action), it waits for the loop below.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	d, err := daemon.Start(cfg, logger, level)
	if err != nil {
		logger.Error("cannot start", "error", err)
		return 1
	}
	for {
		select {
		case err := <-d.Done():
			logger.Error("milter listener failed", "error", err)
			return 1
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_ = d.Reload() // logged; a broken file keeps the old configuration
				continue
			}
			logger.Info("draining sessions", "signal", sig.String(), "timeout", d.Config().Milter.DrainTimeout.Duration)
			ctx, cancel := context.WithTimeout(context.Background(), d.Config().Milter.DrainTimeout.Duration)
			err := d.Shutdown(ctx)
			cancel()
			if err != nil {
				logger.Warn("shutdown", "error", err)
			}
			return 0
		}
	}
}

// gcPercent and memoryLimit are spamgate's GOGC and GOMEMLIMIT unless the
// environment sets them. The live heap is small (caches and the sessions in
// flight, a few MiB) while every message leaves its garbage (go-milter alone
// allocates a 4 KiB buffer per packet it writes), so Go's default of 100
// collects every few dozen messages: the collector and the return of memory
// to the OS took a fifth of the milter benchmark's CPU. At 400 spamgate's
// CPU per message behind Postfix fell by 14 % and its peak RSS with 200
// sessions stayed at 37 MiB (docs/BENCHMARKS.md). The memory limit keeps a
// big live heap (the in-memory greylist store holds up to a million
// triplets) from growing five-fold: near it the collector runs sooner.
const (
	gcPercent   = 400
	memoryLimit = 512 << 20
)

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// redisLogger writes go-redis's messages as slog warnings.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
