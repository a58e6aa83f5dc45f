package arc

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"spamgate/dkim"
)

// keys is the key set of the conformance scenarios: three sealers, one
// with an ed25519 key, all published in z.
type keys struct {
	a, b, c, ed, small dkim.Key
	z                  zone
}

func testKeys(t testing.TB) keys {
	k := keys{
		a:     testKey(t, "rsa.pem", "list.example", "arc1"),
		b:     testKey(t, "rsa2.pem", "fwd.example", "seal"),
		c:     testKey(t, "rsa.pem", "relay.example", "r"),
		ed:    testKey(t, "ed25519.pem", "ed.example", "ed"),
		small: testKey(t, "rsa512.pem", "small.example", "s"),
		z:     zone{},
	}
	for _, key := range []dkim.Key{k.a, k.b, k.c, k.ed, k.small} {
		k.z.publish(t, key)
	}
	return k
}

// edit changes a message the way a hop (or an attacker) would.
func replace(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic("scenario edit does not apply: " + old)
		}
		return strings.Replace(s, old, new, 1)
	}
}

// scenario is one conformance case of RFC 8617 sections 4–5: build a
// message (sealing hop by hop), maybe damage it, verify, compare.
type scenario struct {
	name   string
	rule   string // the RFC 8617 / RFC 6376 rule it checks
	build  func(t *testing.T, k keys) string
	zone   func(z zone) // DNS changes before verification
	opt    Options      // verifier options
	want   string       // None, Pass or Fail
	oldest int          // expected oldest-pass on Pass
	why    string       // substring of the reason on Fail
	check  func(*testing.T, Result)
}

func hops(t *testing.T, raw string, k keys, seq ...any) string {
	for _, s := range seq {
		switch s := s.(type) {
		case dkim.Key:
			raw = seal(t, raw, k.z, s, nil)
		case func(string) string:
			raw = s(raw)
		case hooked:
			raw = seal(t, raw, k.z, s.key, &s.hook)
		default:
			t.Fatalf("hop %T", s)
		}
	}
	return raw
}

type hooked struct {
	key  dkim.Key
	hook sealHook
}

func scenarios() []scenario {
	msg := func(t *testing.T) string { return readTestdata(t, "message.eml") }
	return []scenario{
		// Structure (4.1, 4.2.1, 5.2 step 2).
		{name: "no ARC fields", rule: "5.2: no sets, none", want: None,
			build: func(t *testing.T, k keys) string { return msg(t) }},
		{name: "one hop", rule: "5.1, 5.2: i=1 cv=none verifies", want: Pass,
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) },
			check: func(t *testing.T, r Result) {
				if r.Instances != 1 || r.Sealers[0] != "list.example" || !strings.HasPrefix(r.NewestAAR, "mx.list.example;") {
					t.Errorf("%+v", r)
				}
			}},
		{name: "three hops", rule: "5.2: i=1..3, cv=pass after 1", want: Pass,
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a, k.b, k.c) },
			check: func(t *testing.T, r Result) {
				if strings.Join(r.Sealers, ",") != "list.example,fwd.example,relay.example" {
					t.Errorf("sealers %v", r.Sealers)
				}
			}},
		{name: "ed25519 sealer", rule: "RFC 8463 keys in AMS and AS", want: Pass,
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a, k.ed) }},
		{name: "duplicate ARC-Seal", rule: "4.2.1: exactly one AS per instance", want: Fail, why: "two ARC-Seal",
			build: func(t *testing.T, k keys) string {
				s := hops(t, msg(t), k, k.a)
				line := regexp.MustCompile(`(?s)ARC-Seal:.*?\r\n(?:[ \t].*?\r\n)*`).FindString(s)
				return line + s
			}},
		{name: "duplicate ARC-Authentication-Results", rule: "4.2.1: exactly one AAR per instance", want: Fail, why: "two ARC-Authentication-Results",
			build: func(t *testing.T, k keys) string {
				return "ARC-Authentication-Results: i=1; evil.example; dkim=pass header.d=origin.example\r\n" + hops(t, msg(t), k, k.a)
			}},
		{name: "duplicate ARC-Message-Signature", rule: "4.2.1: exactly one AMS per instance", want: Fail, why: "two ARC-Message-Signature",
			build: func(t *testing.T, k keys) string {
				s := hops(t, msg(t), k, k.a)
				line := regexp.MustCompile(`(?s)ARC-Message-Signature:.*?\r\n(?:[ \t].*?\r\n)*`).FindString(s)
				return line + s
			}},
		{name: "gap in instances", rule: "4.2.1: instances contiguous from 1", want: Fail, why: "set 2 of 3",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, hooked{k.b, sealHook{inst: 3, cv: Pass}})
			}},
		{name: "missing AMS", rule: "4.2.1: a set has all three fields", want: Fail, why: "incomplete",
			build: func(t *testing.T, k keys) string {
				s := hops(t, msg(t), k, k.a)
				return regexp.MustCompile(`(?s)ARC-Message-Signature:.*?\r\n(?:[ \t].*?\r\n)*`).ReplaceAllString(s, "")
			}},
		{name: "instance 0", rule: "4.2.1: i= is 1..50", want: Fail, why: "instance 0",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, hooked{k.a, sealHook{inst: 0}}, replace("i=1;", "i=0;"))
			}},
		{name: "instance 51", rule: "4.2.1: at most 50 sets", want: Fail, why: "instance",
			build: func(t *testing.T, k keys) string {
				return "ARC-Seal: i=51; a=rsa-sha256; cv=pass; d=x.example; s=s; b=AAAA\r\n" + hops(t, msg(t), k, k.a)
			}},
		{name: "instance not a number", rule: "4.1: i= is digits", want: Fail, why: "instance",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("ARC-Seal: i=1;", "ARC-Seal: i=+1;"))
			}},
		{name: "AAR without i=", rule: "4.1.1: AAR starts with i=N;", want: Fail, why: "i=",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("ARC-Authentication-Results: i=1;", "ARC-Authentication-Results: mx.list.example; i=1;"))
			}},
		{name: "malformed AMS tag-list", rule: "4.1.2: AMS is a tag-list", want: Fail, why: "malformed",
			build: func(t *testing.T, k keys) string {
				return "ARC-Message-Signature: i=2; a=rsa-sha256; d=x; d=y\r\n" + hops(t, msg(t), k, k.a)
			}},
		{name: "chain over max_instances", rule: "4.2.1 limit, configurable", want: Fail, why: "more than",
			opt:   Options{MaxInstances: 2},
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a, k.b, k.c) }},
		{name: "10,000 ARC fields", rule: "hostile: bounded work", want: Fail, why: "ARC header fields",
			build: func(t *testing.T, k keys) string {
				return strings.Repeat("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x; s=y; b=AAAA\r\n", 10000) + msg(t)
			}},
		// cv= transitions (4.1.3, 5.2 step 2).
		{name: "AS(1) says cv=pass", rule: "5.2: AS(1) cv=none", want: Fail, why: "want none",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, hooked{k.a, sealHook{cv: Pass}}) }},
		{name: "AS(2) says cv=none", rule: "5.2: AS(i>1) cv=pass", want: Fail, why: "want pass",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a, hooked{k.b, sealHook{cv: None}}) }},
		{name: "newest AS says cv=fail", rule: "5.2 step 2: newest cv=fail ends the chain", want: Fail, why: "cv=fail",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a, hooked{k.b, sealHook{cv: Fail}}) }},
		{name: "older AS says cv=fail", rule: "5.2: AS(i>1) cv=pass", want: Fail, why: "want pass",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, hooked{k.b, sealHook{cv: Fail}}, hooked{k.c, sealHook{cv: Pass}})
			}},
		{name: "unknown cv value", rule: "4.1.3: cv is none/fail/pass", want: Fail, why: "want pass",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, hooked{k.b, sealHook{cv: "neutral"}})
			}},
		{name: "sealing a failed chain", rule: "5.1.2: cv=fail, AS covers only its set; the result stays fail", want: Fail, why: "cv=fail",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("Meeting", "Meating"), k.b)
			}},
		{name: "AS with h=", rule: "4.1.3: AS has no h=", want: Fail, why: "h= tag",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, hooked{k.a, sealHook{as: " h=From;"}}) }},
		// AMS (4.1.2, 5.1.1 / RFC 6376 3.4, 3.7, 5.4).
		{name: "body changed after the newest seal", rule: "5.2 step 3: AMS(N) body hash", want: Fail, why: "body hash",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("Hello list", "Hello world"))
			}},
		{name: "signed header changed after the newest seal", rule: "5.2 step 3: AMS(N) header hash", want: Fail, why: "does not verify",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("Meeting", "[list] Meeting"))
			}},
		{name: "From added above (oversigned fields not affected, new From picked first)", rule: "RFC 6376 5.4.2: bottom-up selection", want: Fail, why: "does not verify",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("MIME-Version: 1.0\r\n", "MIME-Version: 1.0\r\nFrom: mallory@evil.example\r\n"))
			}},
		{name: "unsigned field added", rule: "RFC 6376 5.4: fields outside h= do not matter", want: Pass,
			build: func(t *testing.T, k keys) string {
				return "X-Mailing-List: yes\r\nReceived: from x by y\r\n" + hops(t, msg(t), k, k.a)
			}},
		{name: "relaxed header whitespace changed", rule: "RFC 6376 3.4.2: relaxed header canonicalization", want: Pass,
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("Subject:  Meeting   notes\t\r\n", "subject:Meeting notes\r\n\t \r\n"))
			}},
		{name: "relaxed body whitespace changed", rule: "RFC 6376 3.4.4: relaxed body canonicalization", want: Pass,
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("the notes  are\t attached   below.   \r\n", "the notes are attached below.\r\n"), func(s string) string { return s + "\r\n\r\n \r\n" })
			}},
		{name: "body modified between hops", rule: "5.2 step 5: oldest-pass", want: Pass, oldest: 2,
			build: func(t *testing.T, k keys) string {
				// b verified before it changed the body, then sealed cv=pass.
				return hops(t, msg(t), k, k.a, replace("Hello list", "Hello, list"), hooked{k.b, sealHook{cv: Pass}}, k.c)
			}},
		{name: "AMS c=simple/simple", rule: "RFC 6376 3.4.1, 3.4.3: simple canonicalization", want: Pass,
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, hooked{k.a, sealHook{simple: true}}, func(s string) string { return s + "\r\n\r\n" })
			}},
		{name: "simple: header white space changed", rule: "RFC 6376 3.4.1: simple keeps every byte", want: Fail, why: "does not verify",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, hooked{k.a, sealHook{simple: true}}, replace("Subject:  Meeting   notes", "Subject: Meeting   notes"))
			}},
		{name: "simple: body white space changed", rule: "RFC 6376 3.4.3: simple keeps every byte", want: Fail, why: "body hash",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, hooked{k.a, sealHook{simple: true}}, replace("below.   \r\n", "below.\r\n"))
			}},
		{name: "simple then relaxed hop", rule: "each AMS its own canonicalization", want: Pass,
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, hooked{k.a, sealHook{simple: true}}, k.b)
			}},
		{name: "AMS with v=", rule: "4.1.2: AMS has no v=", want: Fail, why: "v= tag",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, hooked{k.a, sealHook{ams: " v=1;"}}) }},
		{name: "AMS h= without From", rule: "RFC 6376 5.4: From is signed", want: Fail, why: "does not list From",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a, replace("h=From:", "h=")) }},
		{name: "AMS h= lists ARC-Seal", rule: "4.1.2: AMS does not sign AS", want: Fail, why: "ARC-Seal",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("h=From:", "h=ARC-Seal:From:"))
			}},
		{name: "AMS c= unknown", rule: "RFC 6376 3.5 c=", want: Fail, why: "canonicalization",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("c=relaxed/relaxed", "c=relaxed/fancy"))
			}},
		{name: "AMS a=rsa-sha1", rule: "RFC 8301: sha1 refused", want: Fail, why: "not allowed",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("ARC-Message-Signature: i=1; a=rsa-sha256;", "ARC-Message-Signature: i=1; a=rsa-sha1;"))
			}},
		{name: "AMS after AAR tampering", rule: "5.1.1: AS(1) covers AAR(1)", want: Fail, why: "ARC-Seal i=1",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("dkim=pass header.d=origin.example", "dkim=pass header.d=0rigin.example"))
			}},
		{name: "older AMS tampered in a longer chain", rule: "5.1.1: AS(N) covers every earlier set", want: Fail, why: "ARC-Seal i=2",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, k.b, func(s string) string {
					i := strings.Index(s, "ARC-Message-Signature: i=1;")
					return s[:i] + strings.Replace(s[i:], "c=relaxed/relaxed", "c=relaxed/simple", 1)
				})
			}},
		{name: "huge b=", rule: "hostile: bounded signature size", want: Fail, why: "b= longer",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, replace("ARC-Seal: i=1;", "ARC-Seal: i=1; z="+strings.Repeat("A", 10)+";"), func(s string) string {
					return regexp.MustCompile(`(?s)(ARC-Seal: .*?)b=[^;]*?\r\n(From|Received|ARC)`).ReplaceAllString(s, "${1}b="+strings.Repeat("QUFB", 50000)+"\r\n$2")
				})
			}},
		{name: "b= not base64", rule: "RFC 6376 3.5 b=", want: Fail, why: "base64",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, func(s string) string {
					return regexp.MustCompile(`(?s)(ARC-Seal: .*?\tb=)`).ReplaceAllString(s, "${1}!!")
				})
			}},
		// Keys and DNS (RFC 6376 3.6, 6.1.2).
		{name: "no key in DNS", rule: "RFC 6376 6.1.2: no key is a failure", want: Fail, why: "no key",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) },
			zone:  func(z zone) { delete(z, "arc1._domainkey.list.example") }},
		{name: "key lookup SERVFAIL", rule: "temporary DNS trouble: fail, marked temporary", want: Fail, why: "key lookup",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) },
			zone:  func(z zone) { z["arc1._domainkey.list.example"] = errServfail },
			check: func(t *testing.T, r Result) {
				if !r.Temporary {
					t.Error("not Temporary")
				}
			}},
		{name: "revoked key", rule: "RFC 6376 3.6.1: empty p=", want: Fail, why: "revoked",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) },
			zone:  func(z zone) { z["arc1._domainkey.list.example"] = "v=DKIM1; k=rsa; p=" }},
		{name: "two key records", rule: "RFC 6376 3.6.2.2: one record", want: Fail, why: "2 key records",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) },
			zone: func(z zone) {
				r := z["arc1._domainkey.list.example"].(string)
				z["arc1._domainkey.list.example"] = []string{r, r}
			}},
		{name: "wrong key", rule: "signature made with another key", want: Fail, why: "does not verify",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) },
			zone:  func(z zone) { z["arc1._domainkey.list.example"] = z["seal._domainkey.fwd.example"] }},
		{name: "key type mismatch", rule: "RFC 8463: k=ed25519 for an rsa signature", want: Fail, why: "a= does not match",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) },
			zone:  func(z zone) { z["arc1._domainkey.list.example"] = z["ed._domainkey.ed.example"] }},
		{name: "RSA key under 1024 bits", rule: "RFC 8301 3.2", want: Fail, why: "under 1024",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) },
			zone:  func(z zone) { z["arc1._domainkey.list.example"] = z["s._domainkey.small.example"] }},
		{name: "key h=sha1 only", rule: "RFC 6376 3.6.1 h=", want: Fail, why: "excludes sha256",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) },
			zone: func(z zone) {
				z["arc1._domainkey.list.example"] = strings.Replace(z["arc1._domainkey.list.example"].(string), "k=rsa;", "k=rsa; h=sha1;", 1)
			}},
		{name: "key for another service", rule: "RFC 6376 3.6.1 s=", want: Fail, why: "excludes email",
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) },
			zone: func(z zone) {
				z["arc1._domainkey.list.example"] = strings.Replace(z["arc1._domainkey.list.example"].(string), "k=rsa;", "k=rsa; s=tls;", 1)
			}},
		{name: "too many distinct keys", rule: "hostile: key lookups bounded", want: Fail, why: "key lookups",
			opt:   Options{MaxLookups: 2},
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a, k.b, k.c) }},
		// Timestamps (RFC 6376 3.5 t=, x=).
		{name: "AMS expired (x=)", rule: "RFC 6376 3.5 x=", want: Fail, why: "expired",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, hooked{k.a, sealHook{ams: fmt.Sprintf(" x=%d;", testNow.Unix()-1)}})
			}},
		{name: "AS x= before t=", rule: "RFC 6376 3.5: x= after t=", want: Fail, why: "x= is before t=",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, hooked{k.a, sealHook{as: fmt.Sprintf(" x=%d;", testNow.Unix()-3600)}})
			}, opt: Options{}},
		{name: "AS t= not a number", rule: "RFC 6376 3.5 t=", want: Fail, why: "bad t=",
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, k.a, func(s string) string {
					return regexp.MustCompile(`t=\d+; cv=`).ReplaceAllString(s, "t=soon; cv=")
				})
			}},
		{name: "x= in the future", rule: "RFC 6376 3.5 x=", want: Pass,
			build: func(t *testing.T, k keys) string {
				return hops(t, msg(t), k, hooked{k.a, sealHook{ams: fmt.Sprintf(" x=%d;", testNow.Unix()+3600)}})
			}},
		// Bounds.
		{name: "body over the size bound", rule: "bounded hashing: fail, not pass", want: Fail, why: "size limit",
			opt:   Options{MaxBodyBytes: 16},
			build: func(t *testing.T, k keys) string { return hops(t, msg(t), k, k.a) }},
	}
}

func TestConformance(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			k := testKeys(t)
			raw := sc.build(t, k)
			if sc.zone != nil {
				sc.zone(k.z)
			}
			r := message(t, raw, k.z, sc.opt).Verify(context.Background())
			if r.Result != sc.want {
				t.Fatalf("%s: result %s (%s), want %s", sc.rule, r.Result, r.Reason, sc.want)
			}
			if sc.want == Pass && r.OldestPass != sc.oldest {
				t.Errorf("oldest-pass %d, want %d", r.OldestPass, sc.oldest)
			}
			if sc.want == Fail && !strings.Contains(r.Reason, sc.why) {
				t.Errorf("reason %q does not mention %q", r.Reason, sc.why)
			}
			if sc.check != nil {
				sc.check(t, r)
			}
		})
	}
}
