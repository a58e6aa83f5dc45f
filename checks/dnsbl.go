package checks

import (
	"fmt"
	"net/netip"

	"spamgate/dnsbl"
)

// DecideDNSBL refuses a client whose summed zone weight reaches the
// threshold, naming the heaviest listing zone as postscreen does.
func DecideDNSBL(r dnsbl.Result, client netip.Addr, threshold float64) Verdict {
	v := Verdict{Check: "dnsbl", Reason: fmt.Sprintf("score %g (threshold %g)", r.Score, threshold)}
	listed := r.Listed()
	if len(listed) == 0 || r.Score < threshold {
		return v
	}
	v.Reason += ", listed in " + listed[0].Zone
	v.Reply = &Reply{554, "5.7.1", fmt.Sprintf("Service unavailable; client [%s] blocked using %s", client.Unmap(), listed[0].Zone)}
	return v
}
