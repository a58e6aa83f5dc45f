package main

import (
	"fmt"
	"io"
	"strings"

	"spamgate/arc"
)

// printARC shows the message's ARC chain: its result, the sealers from
// the first hop to the last, oldest-pass, and why it failed.
func printARC(w io.Writer, a *arc.Result) {
	if a == nil {
		return
	}
	fmt.Fprintf(w, "  arc            %s", a.Result)
	if a.Instances > 0 {
		fmt.Fprintf(w, ", %d sets sealed by %s", a.Instances, strings.Join(a.Sealers, " → "))
		if a.Result == arc.Pass {
			fmt.Fprintf(w, ", oldest-pass %d", a.OldestPass)
		}
	}
	if a.Reason != "" {
		fmt.Fprintf(w, ": %s", a.Reason)
	}
	fmt.Fprintln(w)
}
