// Package score keeps a message's spam score sheet and renders it in
// SpamAssassin's conventions (X-Spam-Flag, X-Spam-Score, X-Spam-Level,
// X-Spam-Status, the "***SPAM***" subject tag), so that Sieve scripts and
// webmail filters written for SpamAssassin keep working unchanged.
//
// The formats mirror SpamAssassin 4.0's Mail::SpamAssassin::PerMsgStatus
// (the _SCORE_, _STARS_, _TESTS_ tags and header folding); the tests hold
// headers produced by a real SpamAssassin 4.0.1.
package score
