package milter

import (
	"net"
	"net/netip"
	"net/textproto"

	gomilter "github.com/emersion/go-milter"

	"spamgate/engine"
)

// backend turns go-milter callbacks into engine.Session calls. Only RCPT and
// end of message are answered; the other events were negotiated as
// "no reply" and must return a nil Response. Refusals are always custom 'y'
// replies: go-milter replaces the backend after its plain reject/tempfail
// responses, which would lose the session.
type backend struct {
	sess   *engine.Session
	conn   *conn
	onRcpt func() // tests only: see Server.onRcpt
}

var _ gomilter.Milter = (*backend)(nil)

func (b *backend) Connect(host, family string, port uint16, addr net.IP, m *gomilter.Modifier) (gomilter.Response, error) {
	b.sess.Macros(m.Macros)
	c := engine.Client{Port: port, Hostname: host}
	if a, ok := netip.AddrFromSlice(addr); ok {
		c.Addr = a.Unmap()
	} else if a, err := netip.ParseAddr(m.Macros["{client_addr}"]); err == nil {
		// go-milter cannot parse a Sendmail-style "IPv6:" address; the macro has it plain.
		c.Addr = a.Unmap()
	}
	b.sess.Connect(c)
	return nil, nil
}

func (b *backend) Helo(name string, m *gomilter.Modifier) (gomilter.Response, error) {
	b.sess.Macros(m.Macros)
	b.sess.Helo(name)
	return nil, nil
}

func (b *backend) MailFrom(from string, m *gomilter.Modifier) (gomilter.Response, error) {
	b.sess.Macros(m.Macros)
	b.conn.inMessage.Store(true)
	b.sess.Mail(from)
	return nil, nil
}

func (b *backend) RcptTo(rcpt string, m *gomilter.Modifier) (gomilter.Response, error) {
	if b.onRcpt != nil {
		b.onRcpt()
	}
	b.sess.Macros(m.Macros)
	if r := b.sess.Rcpt(rcpt); r != nil {
		return gomilter.NewResponseStr('y', r.Milter()), nil
	}
	return gomilter.RespContinue, nil
}

func (b *backend) Header(name, value string, m *gomilter.Modifier) (gomilter.Response, error) {
	b.sess.Header(name, value)
	return nil, nil
}

func (b *backend) Headers(h textproto.MIMEHeader, m *gomilter.Modifier) (gomilter.Response, error) {
	b.sess.Macros(m.Macros)
	b.sess.EndHeaders()
	return nil, nil
}

func (b *backend) BodyChunk(chunk []byte, m *gomilter.Modifier) (gomilter.Response, error) {
	b.sess.Body(chunk)
	return nil, nil
}

// Body is the end of the message: the only point where Postfix accepts
// header changes. Continue there means accept.
func (b *backend) Body(m *gomilter.Modifier) (gomilter.Response, error) {
	b.sess.Macros(m.Macros)
	defer b.conn.inMessage.Store(false)
	changes, reply := b.sess.End()
	if reply != nil {
		return gomilter.NewResponseStr('y', reply.Milter()), nil
	}
	for _, c := range changes {
		var err error
		switch {
		case c.Quarantine != "":
			err = m.Quarantine(c.Quarantine)
		case c.Delete:
			err = m.ChangeHeader(c.Index, c.Name, "")
		case c.Change:
			// The leading space is ours to give: SMFIP_HDR_LEADSPC is negotiated.
			err = m.ChangeHeader(c.Index, c.Name, " "+c.Value)
		default:
			err = m.InsertHeader(c.Index, c.Name, " "+c.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	return gomilter.RespContinue, nil
}

func (b *backend) Abort(m *gomilter.Modifier) error {
	b.sess.Abort()
	b.conn.inMessage.Store(false)
	return nil
}
