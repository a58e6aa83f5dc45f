package slapdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// configLDIF is cn=config for one throwaway server: the schemas an
// address book needs, and one MDB database under Suffix whose rootdn can
// do anything and whose entries everyone may read (tests bind as the
// rootdn or anonymously; access control is not what they test).
func configLDIF(dir, password string, tls *tlsFiles) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: cn=config\nobjectClass: olcGlobal\ncn: config\nolcPidFile: %s\n",
		filepath.Join(dir, "slapd.pid"))
	if tls != nil {
		fmt.Fprintf(&b, "olcTLSCertificateFile: %s\nolcTLSCertificateKeyFile: %s\n", tls.cert, tls.key)
	}
	b.WriteString("\n")
	// Debian builds the backends as modules.
	b.WriteString("dn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n" +
		"olcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb\n\n")
	b.WriteString("dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n")
	for _, s := range schemas {
		fmt.Fprintf(&b, "include: file://%s\n\n", filepath.Join(SchemaDir, s+".ldif"))
	}
	b.WriteString("dn: olcDatabase={-1}frontend,cn=config\nobjectClass: olcDatabaseConfig\n" +
		"objectClass: olcFrontendConfig\nolcDatabase: {-1}frontend\n\n")
	b.WriteString("dn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\n" +
		"olcDatabase: {0}config\nolcAccess: {0}to * by * none\n\n")
	fmt.Fprintf(&b, "dn: olcDatabase={1}mdb,cn=config\nobjectClass: olcDatabaseConfig\n"+
		"objectClass: olcMdbConfig\nolcDatabase: {1}mdb\nolcDbDirectory: %s\n"+
		"olcSuffix: %s\nolcRootDN: %s\nolcRootPW: %s\n"+
		// 16 MiB instead of the default map size: tests hold a handful of entries.
		"olcDbMaxSize: 16777216\nolcDbIndex: objectClass eq\nolcDbIndex: mail eq\n"+
		"olcAccess: {0}to * by * read\n",
		filepath.Join(dir, "db"), Suffix, AdminDN, password)
	return b.String()
}

// schemas are loaded in this order: each needs the ones before it.
var schemas = []string{"core", "cosine", "inetorgperson"}

// baseEntry is prepended to the test's LDIF unless it has its own.
const baseEntry = "dn: " + Suffix + "\nobjectClass: dcObject\nobjectClass: organization\n" +
	"dc: example\no: example\n\n"

// withBase returns ldif with the suffix entry in front when it lacks one.
func withBase(ldif string) string {
	for line := range strings.Lines(ldif) {
		if strings.EqualFold(strings.TrimSpace(line), "dn: "+Suffix) {
			return ldif
		}
	}
	return baseEntry + ldif
}

// build writes cn=config and the data with slapadd, before slapd runs, so
// that the server starts with its data and the test needs no client to
// load it.
func build(dir, password, ldif string, tls *tlsFiles) error {
	for _, d := range []string{"config", "db"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return fmt.Errorf("make %s dir: %w", d, err)
		}
	}
	cfg := filepath.Join(dir, "config.ldif")
	data := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(cfg, []byte(configLDIF(dir, password, tls)), 0o600); err != nil {
		return fmt.Errorf("write config LDIF: %w", err)
	}
	if err := os.WriteFile(data, []byte(withBase(ldif)), 0o600); err != nil {
		return fmt.Errorf("write data LDIF: %w", err)
	}
	if err := slapadd(dir, "0", cfg); err != nil {
		return fmt.Errorf("cn=config: %w", err)
	}
	if err := slapadd(dir, "1", data); err != nil {
		return fmt.Errorf("test data: %w", err)
	}
	return nil
}

func slapadd(dir, db, file string) error {
	cmd := exec.Command(Slapadd, "-n", db, "-F", filepath.Join(dir, "config"), "-l", file)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s -n%s -l %s: %w\n%s", Slapadd, db, file, err, out)
	}
	return nil
}
