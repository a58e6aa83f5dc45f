package admin

// Console is every admin action, called by both the JSON API and the web
// UI. (Skeleton: filled in by the API work.)
type Console struct{}
