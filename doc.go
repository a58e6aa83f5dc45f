// Package spamgate is the module root; the program lives in cmd/spamgate.
package spamgate
