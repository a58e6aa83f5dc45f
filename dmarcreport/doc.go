// Package dmarcreport records DMARC evaluations and turns them into DMARC
// aggregate reports (RFC 9990).
//
// The milter appends one Evaluation per message to a History (JSON lines, one
// file per UTC day). `spamgate dmarc report` reads the History back with Read,
// groups it with Aggregate and writes one RFC 9990 XML file per Policy Domain
// that asked for reports with rua=. Sending the reports is out of scope.
package dmarcreport
