package socketmap

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// answer parses one request ("NAME KEY", socketmap_table(5) "REQUEST FORMAT") and
// returns the handler's reply to it.
func (s *Server) answer(req string, log *slog.Logger) Reply {
	name, key, ok := strings.Cut(req, " ")
	if !ok || name == "" {
		log.Warn("socketmap: malformed request", "request", truncate(req, 100))
		return Perm("malformed request: want NAME SPACE KEY")
	}
	start := time.Now()
	rep := s.call(name, key, log)
	log.Debug("socketmap: lookup", "map", name, "key", key, "status", rep.Status,
		"value", truncate(rep.Value, 200), "duration", time.Since(start))
	return rep
}

// call runs the handler with the request deadline. A handler still busy at the
// deadline is left to finish on its own (its ctx is done) and TIMEOUT is answered.
func (s *Server) call(name, key string, log *slog.Logger) Reply {
	ctx, cancel := context.WithTimeout(s.ctx, s.RequestTimeout)
	defer cancel()
	ch := make(chan Reply, 1)
	go func() { ch <- s.safeCall(ctx, name, key, log) }()
	select {
	case rep := <-ch:
		return rep
	case <-ctx.Done():
		log.Warn("socketmap: lookup timed out", "map", name, "key", key, "timeout", s.RequestTimeout)
		return Timeout("lookup timed out")
	}
}

// safeCall turns a handler panic into a TEMP reply: Postfix retries later.
func (s *Server) safeCall(ctx context.Context, name, key string, log *slog.Logger) (rep Reply) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("socketmap: handler panicked", "map", name, "key", key, "panic", v)
			rep = Temp("internal error")
		}
	}()
	return s.handler(ctx, name, key)
}

// truncate shortens s for a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
