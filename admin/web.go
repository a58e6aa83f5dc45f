package admin

import "net/http"

// webRoutes registers the web UI's pages.
func (s *Server) webRoutes(mux *http.ServeMux) {}
