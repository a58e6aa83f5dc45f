//go:build !linux

package main

import (
	"errors"
	"os"
)

// On other systems the password is read from standard input as a line
// (pipe it: printf '%s\n' "$PW" | spamgate admin passwd …).
func isTerminal(*os.File) bool { return false }

func noEcho(*os.File) (func(), error) { return nil, errors.New("no terminal support here") }
