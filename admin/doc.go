// Package admin is the policy admin console: a JSON API under /api/v1/ and
// a server-rendered web UI, both served by spamgate itself ([admin] listen).
//
// Both faces call the same Console, so the API and the UI cannot disagree:
// console.go holds every admin action (rules, lookup, explain, decisions,
// rollout, greylist, audit), api.go maps them to JSON, web.go to HTML
// pages.
package admin
