package dmarcreport

import "encoding/xml"

// Namespace is the XML namespace of DMARC aggregate reports (RFC 9990
// section 6.1, urn:ietf:params:xml:ns:dmarc-2.0).
const Namespace = "urn:ietf:params:xml:ns:dmarc-2.0"

// The types below follow the XML Schema of RFC 9990 Appendix A; element
// order is the order section 2.1.1 requires.

// Feedback is the root element.
type Feedback struct {
	XMLName  xml.Name       `xml:"urn:ietf:params:xml:ns:dmarc-2.0 feedback"`
	Version  string         `xml:"version"`
	Metadata ReportMetadata `xml:"report_metadata"`
	Policy   PolicyXML      `xml:"policy_published"`
	Records  []RecordXML    `xml:"record"`
}

// ReportMetadata is "report_metadata".
type ReportMetadata struct {
	OrgName          string    `xml:"org_name"`
	Email            string    `xml:"email"`
	ExtraContactInfo string    `xml:"extra_contact_info,omitempty"`
	ReportID         string    `xml:"report_id"`
	DateRange        DateRange `xml:"date_range"`
}

// DateRange is "date_range", seconds since the epoch.
type DateRange struct {
	Begin int64 `xml:"begin"`
	End   int64 `xml:"end"`
}

// PolicyXML is "policy_published".
type PolicyXML struct {
	Domain          string `xml:"domain"`
	DiscoveryMethod string `xml:"discovery_method,omitempty"`
	ADKIM           string `xml:"adkim,omitempty"`
	ASPF            string `xml:"aspf,omitempty"`
	P               string `xml:"p"`
	SP              string `xml:"sp"`
	Testing         string `xml:"testing,omitempty"`
	FO              string `xml:"fo,omitempty"`
}

// RecordXML is one "record".
type RecordXML struct {
	Row         RowXML         `xml:"row"`
	Identifiers IdentifiersXML `xml:"identifiers"`
	AuthResults AuthResultsXML `xml:"auth_results"`
}

// RowXML is "row".
type RowXML struct {
	SourceIP        string             `xml:"source_ip"`
	Count           int                `xml:"count"`
	PolicyEvaluated PolicyEvaluatedXML `xml:"policy_evaluated"`
}

// PolicyEvaluatedXML is "policy_evaluated".
type PolicyEvaluatedXML struct {
	Disposition string      `xml:"disposition"`
	DKIM        string      `xml:"dkim"`
	SPF         string      `xml:"spf"`
	Reasons     []ReasonXML `xml:"reason"`
}

// ReasonXML is a policy override "reason" (RFC 9990 2.1.5).
type ReasonXML struct {
	Type    string `xml:"type"`
	Comment string `xml:"comment,omitempty"`
}

// IdentifiersXML is "identifiers". EnvelopeFrom is a pointer: RFC 9990
// 2.1.1 lets it be present but empty for a null reverse-path.
type IdentifiersXML struct {
	EnvelopeFrom *string `xml:"envelope_from"`
	HeaderFrom   string  `xml:"header_from"`
}

// AuthResultsXML is "auth_results": DKIM first, then SPF.
type AuthResultsXML struct {
	DKIM []DKIMXML `xml:"dkim"`
	SPF  []SPFXML  `xml:"spf"`
}

// DKIMXML is one "dkim" result.
type DKIMXML struct {
	Domain   string `xml:"domain"`
	Selector string `xml:"selector"`
	Result   string `xml:"result"`
}

// SPFXML is one "spf" result.
type SPFXML struct {
	Domain string `xml:"domain"`
	Scope  string `xml:"scope,omitempty"`
	Result string `xml:"result"`
}
