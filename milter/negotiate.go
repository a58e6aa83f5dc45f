package milter

import gomilter "github.com/emersion/go-milter"

// actions are the modifications spamgate may make: add and change headers
// (Authentication-Results, DKIM-Signature), quarantine (DMARC), and set the
// macro lists below.
const actions = gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine | gomilter.OptSetSymList

// protocol asks Postfix for no reply to events that never get one other than
// "continue" (each reply is a round trip Postfix waits for), and for header
// values with their leading space so that they can be verified byte-exact.
// Postfix honours these bits from a version-2 milter such as go-milter's.
// With these bits set the callbacks must return nil, not RespContinue,
// or every later reply is off by one.
func protocol(needsBody bool) gomilter.OptProtocol {
	p := gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoMailReply |
		gomilter.OptNoHeaderReply | gomilter.OptNoEOHReply | gomilter.OptNoBodyReply |
		gomilter.OptNoUnknown | gomilter.OptNoData | gomilter.OptHeaderLeadingSpace
	if !needsBody {
		p |= gomilter.OptNoBody
	}
	return p
}

// symList names the macros spamgate reads, per stage, and no others: Postfix
// looks up and sends every macro listed, at every event of the stage (the
// end-of-header list goes with each header field). Asking for them here
// spares the admin the milter_*_macros settings in main.cf. Postfix replaces
// all its macro lists for this milter with these, so every stage that needs
// one is listed. The TLS facts are asked for at MAIL too: a client that does
// not send EHLO again after STARTTLS would otherwise never show them.
var symList = map[gomilter.Stage][]string{
	gomilter.StageConnect:  {"j", "{client_addr}"},
	gomilter.StageHelo:     {"{tls_version}", "{cipher}", "{cipher_bits}"},
	gomilter.StageMailFrom: {"i", "{auth_authen}", "{tls_version}", "{cipher}", "{cipher_bits}"},
	gomilter.StageRcptTo:   {"i"},
	gomilter.StageEOH:      {"i"},
	gomilter.StageEOM:      {"i"},
}
