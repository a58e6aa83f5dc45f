package history

import (
	"slices"
	"testing"
	"time"
)

// storeContract runs the behaviour both stores share: filters, order,
// rollout and stats. open makes an empty store on clk.
func storeContract(t *testing.T, open func(t *testing.T, clk *clock) syncer) {
	clk := newClock()
	s := open(t, clk)
	t0 := clk.Now()
	score := 7.5
	recs := []Record{
		rec(t0.Add(-3*time.Hour), "192.0.2.1", "alice@Sender.example", "",
			accepted("bob@corp.test"), refused("carol@corp.test", "tls", "550 5.7.10 Encryption needed")),
		rec(t0.Add(-2*time.Hour), "192.0.2.2", "news@list.example", "TLSv1.3", accepted("bob@corp.test")),
		rec(t0.Add(-1*time.Hour), "2001:db8::7", "", "TLSv1", accepted("dave@sub.corp.test")),
		rec(t0.Add(-30*time.Minute), "198.51.100.9", "spam@bad.example", "",
			refused("bob@corp.test", "dnsbl", "554 5.7.1 Service unavailable")),
		{Time: t0.Add(-10 * time.Minute), QueueID: "EOM1", Client: "192.0.2.1", Sender: "x@sender.example",
			TLSVersion: "TLSv1.2", Recipients: []Recipient{accepted("bob@corp.test"), accepted("eve@corp.test")},
			Reply: "550 5.7.1 Message rejected as spam", Check: "score", Score: &score},
		{Time: t0.Add(-5 * time.Minute), QueueID: "OUT1", Client: "10.0.0.5", Sender: "bob@corp.test",
			Outbound: true, Recipients: []Recipient{accepted("someone@far.example")}},
	}
	for _, r := range recs {
		s.Add(r)
	}
	s.Sync()

	id := func(i int) string { return recs[i].QueueID }
	for _, tt := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"all, newest first", Filter{}, []string{id(5), id(4), id(3), id(2), id(1), id(0)}},
		{"limit", Filter{Limit: 2}, []string{id(5), id(4)}},
		{"recipient substring, any case", Filter{Recipient: "BOB@corp"}, []string{id(4), id(3), id(1), id(0)}},
		{"recipient refused one counts too", Filter{Recipient: "carol"}, []string{id(0)}},
		{"sender substring, any case", Filter{Sender: "sender.EXAMPLE"}, []string{id(4), id(0)}},
		{"client exact", Filter{Client: "192.0.2.1"}, []string{id(4), id(0)}},
		{"client exact is not a prefix", Filter{Client: "192.0.2.10"}, nil},
		{"client prefix", Filter{Client: "192.0.2."}, []string{id(4), id(1), id(0)}},
		{"client IPv6 in another spelling", Filter{Client: "2001:DB8:0::7"}, []string{id(2)}},
		{"queue id exact", Filter{QueueID: "EOM1"}, []string{"EOM1"}},
		{"queue id is case-sensitive", Filter{QueueID: "eom1"}, nil},
		{"since", Filter{Since: t0.Add(-90 * time.Minute)}, []string{id(5), id(4), id(3), id(2)}},
		{"and", Filter{Recipient: "bob", Client: "192.0.2.1", Since: t0.Add(-time.Hour)}, []string{id(4)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := queueIDs(mustQuery(t, s, tt.f))
			if len(got) == 0 {
				got = nil
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("facts survive", func(t *testing.T) {
		got := mustQuery(t, s, Filter{QueueID: "EOM1"})
		if len(got) != 1 || got[0].Score == nil || *got[0].Score != 7.5 || got[0].Check != "score" || len(got[0].Recipients) != 2 {
			t.Fatalf("got %+v", got)
		}
	})

	for _, tt := range []struct {
		name, pattern, minTLS string
		want                  []RolloutRow // Client, SenderDomain, TLSVersion, Count, Recipients
	}{
		// The cleartext transaction delivered to bob and was refused for
		// carol (tls): both count. The DNSBL refusal and the message refused
		// at end of message would not have been delivered: they do not.
		{"domain, any TLS", "corp.test", "", []RolloutRow{
			{Client: "192.0.2.1", SenderDomain: "sender.example", Count: 1, Recipients: []string{"bob@corp.test", "carol@corp.test"}}}},
		{"@domain as a table writes it", "@corp.test", "", []RolloutRow{
			{Client: "192.0.2.1", SenderDomain: "sender.example", Count: 1, Recipients: []string{"bob@corp.test", "carol@corp.test"}}}},
		{"exact address", "carol@corp.test", "", []RolloutRow{
			{Client: "192.0.2.1", SenderDomain: "sender.example", Count: 1, Recipients: []string{"carol@corp.test"}}}},
		{"subdomains need the dot form", ".corp.test", "TLSv1.2", []RolloutRow{
			{Client: "2001:db8::7", SenderDomain: "", TLSVersion: "TLSv1", Count: 1, Recipients: []string{"dave@sub.corp.test"}}}},
		{"a domain rule covers no subdomain", "corp.test", "TLSv1.2", []RolloutRow{
			{Client: "192.0.2.1", SenderDomain: "sender.example", Count: 1, Recipients: []string{"bob@corp.test", "carol@corp.test"}}}},
		{"TLSv1.3 minimum catches every older version", "*", "TLSv1.3", []RolloutRow{
			{Client: "192.0.2.1", SenderDomain: "sender.example", Count: 1, Recipients: []string{"bob@corp.test", "carol@corp.test"}},
			{Client: "2001:db8::7", TLSVersion: "TLSv1", Count: 1, Recipients: []string{"dave@sub.corp.test"}}}},
		{"nobody", "nobody@corp.test", "", nil},
	} {
		t.Run("rollout "+tt.name, func(t *testing.T) {
			rows, err := s.Rollout(t.Context(), tt.pattern, time.Time{}, tt.minTLS)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(tt.want) {
				t.Fatalf("got %d rows %+v, want %+v", len(rows), rows, tt.want)
			}
			slices.SortFunc(rows, func(a, b RolloutRow) int { return b.LastSeen.Compare(a.LastSeen) })
			slices.SortFunc(tt.want, func(a, b RolloutRow) int { return 0 })
			for i, w := range tt.want {
				g := rows[len(rows)-1-i]
				if g.Client != w.Client || g.SenderDomain != w.SenderDomain || g.TLSVersion != w.TLSVersion ||
					g.Count != w.Count || !slices.Equal(g.Recipients, w.Recipients) || g.LastSeen.IsZero() {
					t.Errorf("row %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
	t.Run("rollout bad input is an error", func(t *testing.T) {
		for _, p := range [][2]string{{"", ""}, {"corp.test", "TLSv9"}, {"a b", ""}} {
			if _, err := s.Rollout(t.Context(), p[0], time.Time{}, p[1]); err == nil {
				t.Errorf("Rollout(%q, %q): no error", p[0], p[1])
			}
		}
	})

	t.Run("stats", func(t *testing.T) {
		st, err := s.Stats(t.Context(), t0.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		wantRefusals := map[string]int{"tls": 1, "dnsbl": 1, "score": 2}
		wantTLS := map[string]int{"cleartext": 2, "TLSv1.3": 1, "TLSv1": 1, "TLSv1.2": 1}
		if st.Transactions != 6 || !mapsEqual(st.Refusals, wantRefusals) || !mapsEqual(st.TLSVersions, wantTLS) {
			t.Errorf("got %+v, want 6 transactions, %v, %v", st, wantRefusals, wantTLS)
		}
		st, _ = s.Stats(t.Context(), t0.Add(-15*time.Minute))
		if st.Transactions != 2 {
			t.Errorf("since 15 min: %d transactions, want 2", st.Transactions)
		}
	})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRolloutPrefilterKeepsMatches: the line prefilter never hides a
// recipient the policy matcher would match: upper case, IDNs in either
// form, the null sender, a trailing dot.
func TestRolloutPrefilterKeepsMatches(t *testing.T) {
	clk := newClock()
	s := openFileStore(t, t.TempDir(), clk, 64<<20)
	s.Add(rec(clk.Now(), "192.0.2.1", "", "", accepted("Carol@CORP.Test")))
	s.Add(rec(clk.Now(), "192.0.2.2", "a@b.example", "", accepted("user@bücher.example")))
	s.Add(rec(clk.Now(), "192.0.2.3", "a@b.example", "", accepted("user@xn--bcher-kva.example")))
	s.Add(rec(clk.Now(), "192.0.2.4", "a@b.example", "TLSv1", accepted("dan@corp.test")))
	s.Sync()
	for _, tt := range []struct {
		pattern, minTLS string
		want            int // transactions
	}{
		{"corp.test", "", 1},
		{"CORP.TEST", "", 1},
		{"carol@corp.test", "", 1},
		{"corp.test", "TLSv1.2", 2},
		{"bücher.example", "", 2},
		{"xn--bcher-kva.example", "", 2},
		{"*", "", 3},
	} {
		rows, err := s.Rollout(t.Context(), tt.pattern, time.Time{}, tt.minTLS)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range rows {
			n += r.Count
		}
		if n != tt.want {
			t.Errorf("Rollout(%q, %q): %d transactions %+v, want %d", tt.pattern, tt.minTLS, n, rows, tt.want)
		}
	}
}
