// Package spamc is a client for SpamAssassin's spamd, speaking the
// SPAMC/SPAMD 1.5 protocol over TCP (see the PROTOCOL file of SpamAssassin).
//
// It uses the SYMBOLS command, which returns the verdict, score, threshold
// and the names of the rules that hit: the milter adds those names to its
// own score sheet and does not need spamd's rewritten message. Like spamc,
// it does not send messages larger than a limit: SpamAssassin is slow on
// them and spam is rarely big.
package spamc
