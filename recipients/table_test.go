package recipients

import (
	"strings"
	"testing"
)

const sampleTable = "\uFEFF# relay recipients, exported nightly\n" +
	"alice@example.test\n" +
	"\n" +
	"   # an indented comment\n" +
	"Bob@Example.Test.\n" +
	"list+owner@example.test\r\n" +
	"@catchall.test\n" +
	"\tpeter@bücher.example  \n" +
	"carol@other.test\n"

func newTableValidator(t *testing.T, text string) *Validator {
	t.Helper()
	v, err := New(Options{
		Domains: []string{"example.test", "Catchall.TEST", "xn--bcher-kva.example", "other.test"},
		Table:   tableFile(t, text),
	}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestTableLookups(t *testing.T) {
	v := newTableValidator(t, sampleTable)
	path := v.path
	for _, c := range []struct {
		addr   string
		status Status
		source string
	}{
		{"alice@example.test", Known, "table " + path + ":2"},
		{"<ALICE@EXAMPLE.TEST>", Known, "table " + path + ":2"},
		{"alice@example.test.", Known, "table " + path + ":2"},
		{"bob@example.test", Known, "table " + path + ":5"},
		{"alice+news@example.test", Known, "table " + path + ":2"}, // +extension falls back
		{"list+owner@example.test", Known, "table " + path + ":6"},
		{"list@example.test", Unknown, ""}, // only list+owner is listed
		{"list+other@example.test", Unknown, ""},
		{"+alice@example.test", Unknown, ""}, // a leading '+' is no extension
		{"anyone@catchall.test", Known, "table " + path + ":7"},
		{"peter@BÜCHER.example", Known, "table " + path + ":8"},
		{"peter@xn--bcher-kva.example", Known, "table " + path + ":8"},
		{"mallory@example.test", Unknown, ""},
		{"@example.test", Unknown, ""},
		{"alice", Unknown, ""},
		{"", Unknown, ""},
		{"<>", Unknown, ""},
		{"al ice@example.test", Unknown, ""},
		{"alice@example.org", NotOurs, ""},
		{"alice@sub.example.test", NotOurs, ""}, // exact domain match only
		{"alice@exa mple.test", NotOurs, ""},
		{"carol@other.test", Known, "table " + path + ":9"},
	} {
		r := check(t, v, c.addr)
		if r.Status != c.status || r.Source != c.source || r.Cached {
			t.Errorf("Check(%q) = %+v, want %v %q", c.addr, r, c.status, c.source)
		}
	}
}

func TestTableErrorsNameFileAndLine(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"alice@example.test\nalice\n", ":2: \"alice\" is neither an address"},
		{"a b@example.test\n", ":1: \"a b@example.test\": one address per line"},
		{"alice@example.test # the boss\n", ":1: \"alice@example.test # the boss\": a comment must be on a line of its own"},
		{"x\n\nalice@exa_mple..test\n", ":3: \"alice@exa_mple..test\": \"exa_mple..test\" is not a valid domain"},
		{"alice@\n", ":1: \"alice@\": \"\" is not a valid domain"},
		{"a\x01b@example.test\n", ":1: \"a\\x01b@example.test\": local part has the character"},
		{"\xff@example.test\n", ":1: \"\\xff@example.test\" is not UTF-8"},
		{strings.Repeat("a", 5000) + "@example.test\n", ":1: line longer than"},
	} {
		_, err := parseTable("FILE", strings.NewReader(c.text))
		if err == nil || !strings.Contains(err.Error(), "FILE"+c.want) {
			t.Errorf("parse %.40q: error %v, want it to contain %q", c.text, err, "FILE"+c.want)
		}
	}
}

func TestTableManyErrorsAreBounded(t *testing.T) {
	_, err := parseTable("F", strings.NewReader(strings.Repeat("bad\n", 100)))
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 || lines[maxErrors] != "... and 80 more errors" {
		t.Fatalf("%d error lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestNewRefusesBrokenTable(t *testing.T) {
	path := tableFile(t, "alice@example.test\nnot-an-address\n")
	_, err := New(Options{Domains: []string{"example.test"}, Table: path}, nil)
	if err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("New: %v, want an error naming %s:2", err, path)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	table := tableFile(t, "alice@example.test\n")
	ok := LDAPOptions{URL: "ldap://127.0.0.1:1", BaseDN: "dc=example,dc=test"}
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"no domains", Options{Table: table}, "no domains"},
		{"bad domain", Options{Domains: []string{"exa mple.test"}, Table: table}, "not a valid domain"},
		{"nothing to ask", Options{Domains: []string{"example.test"}}, "neither a table nor LDAP"},
		{"missing table", Options{Domains: []string{"example.test"}, Table: table + ".gone"}, "no such file"},
		{"url", ldapOpts(ok, func(l *LDAPOptions) { l.URL = "http://127.0.0.1" }), "want ldap://"},
		{"ldaps+starttls", ldapOpts(ok, func(l *LDAPOptions) { l.URL = "ldaps://127.0.0.1"; l.StartTLS = true }), "TLS already"},
		{"base", ldapOpts(ok, func(l *LDAPOptions) { l.BaseDN = "" }), "base DN"},
		{"filter without %s", ldapOpts(ok, func(l *LDAPOptions) { l.Filter = "(mail=x)" }), "has no %s"},
		{"filter syntax", ldapOpts(ok, func(l *LDAPOptions) { l.Filter = "(mail=%s" }), "filter"},
		{"scope", ldapOpts(ok, func(l *LDAPOptions) { l.Scope = "subtree" }), "scope"},
		{"password only", ldapOpts(ok, func(l *LDAPOptions) { l.Password = "x" }), "without a bind DN"},
		{"bind dn only", ldapOpts(ok, func(l *LDAPOptions) { l.BindDN = "cn=x" }), "without a password"},
		{"ca file", ldapOpts(ok, func(l *LDAPOptions) { l.StartTLS = true; l.CAFile = table }), "no PEM certificate"},
	} {
		if _, err := New(c.o, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func ldapOpts(base LDAPOptions, edit func(*LDAPOptions)) Options {
	edit(&base)
	return Options{Domains: []string{"example.test"}, LDAP: &base}
}
