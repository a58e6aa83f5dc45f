package admin

import (
	"log/slog"
	"net/http"
)

// Server serves the console: the JSON API under /api/v1/ and the web UI
// under /.
type Server struct {
	console *Console
	log     *slog.Logger
	mux     *http.ServeMux
}

// NewServer builds the console's HTTP handler over c.
func NewServer(c *Console, log *slog.Logger) *Server {
	s := &Server{console: c, log: log, mux: http.NewServeMux()}
	s.apiRoutes(s.mux)
	s.webRoutes(s.mux)
	return s
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }
