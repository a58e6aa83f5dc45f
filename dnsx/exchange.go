package dnsx

import (
	"context"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the EDNS0 UDP payload size we advertise: the DNS Flag Day 2020
// value, which avoids IP fragmentation on any path.
const ednsSize = 1232

// query asks the nameservers for k until one gives a usable answer (records,
// NXDOMAIN or NODATA), going round them r.attempts times. Timeouts, SERVFAIL,
// REFUSED, network errors and malformed answers move on to the next server.
// ctx bounds the whole: once it ends, the last failure is returned. It
// holds a query slot (limit.go) throughout, and first waits for one.
func (r *Resolver) query(ctx context.Context, k key) *answer {
	sess, fail := r.acquireSlots(ctx)
	if fail != nil {
		return fail
	}
	defer r.releaseSlots(sess)
	q := new(dns.Msg)
	q.SetQuestion(k.fqdn(), k.qtype)
	q.SetEdns0(ednsSize, false)
	last := failure("", "no nameserver", false)
	for range r.attempts {
		for _, server := range r.servers {
			if expired(ctx) {
				// A timeout for a deadline, never ctx.Err() itself.
				return exchangeFailure(ctxError(ctx), last.server)
			}
			q.Id = dns.Id() // fresh for every try: a late answer to an earlier one is ignored
			resp, err := r.exchange(ctx, q, server)
			last = r.classify(q, resp, err, server)
			if last.outcome != failed {
				return last
			}
		}
	}
	return last
}

// exchange sends q to server over UDP, and again over TCP if the answer is
// truncated (miekg does not fall back by itself). Each transport gets its
// own r.timeout, within ctx.
func (r *Resolver) exchange(ctx context.Context, q *dns.Msg, server string) (*dns.Msg, error) {
	resp, err := r.exchangeOnce(ctx, r.udp, q, server)
	if err != nil || !resp.Truncated {
		return resp, err
	}
	return r.exchangeOnce(ctx, r.tcp, q, server)
}

// exchangeOnce makes one attempt, bounded by r.timeout within ctx.
func (r *Resolver) exchangeOnce(ctx context.Context, c *dns.Client, q *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	r.stats.queries.Add(1)
	resp, err := roundTrip(ctx, c, q, server)
	if err != nil && expired(ctx) {
		// The deadline or cancellation caused err: report that, not the
		// i/o error it showed up as.
		return nil, ctxError(ctx)
	}
	return resp, err
}

// roundTrip dials server and exchanges q on a connection of its own (for
// UDP, a fresh source port per query). miekg only honours ctx's deadline,
// not its cancellation, so a cancellation becomes a connection deadline.
func roundTrip(ctx context.Context, c *dns.Client, q *dns.Msg, server string) (*dns.Msg, error) {
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	return resp, err
}

// expired reports whether ctx has ended or its deadline has passed. The
// connection deadline set from ctx fires at the same instant as ctx's own
// timer, and its error may arrive before ctx.Err() reports anything.
func expired(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// ctxError is the error of an expired ctx, even before its timer has fired.
func ctxError(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return context.DeadlineExceeded
}
