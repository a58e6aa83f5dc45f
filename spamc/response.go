package spamc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Limits on what is read from spamd: the response is network input and a
// broken or hostile server must not make us allocate or loop without end.
const (
	maxLine     = 1024      // a status or header line
	maxHeaders  = 32        // spamd sends two
	maxBody     = 256 << 10 // rule names: a few KiB in practice
	maxRules    = 2048
	maxRuleName = 128
)

// Result is spamd's verdict on a message.
type Result struct {
	Spam      bool     // score >= threshold, as spamd decided
	Score     float64  // as spamd prints it (one decimal)
	Threshold float64  // spamd's required_score
	Rules     []string // names of the rules that hit, e.g. "GTUBE"
}

// parseResponse reads a SYMBOLS response:
//
//	SPAMD/1.1 0 EX_OK
//	Content-length: 68
//	Spam: True ; 1003.3 / 5.0
//
//	GTUBE,MISSING_DATE,...
func parseResponse(r io.Reader) (Result, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxLine*(maxHeaders+2)+maxBody), maxLine)
	if _, err := readStatus(br); err != nil {
		return Result{}, err
	}
	res, length, err := readHeaders(br)
	if err != nil {
		return Result{}, err
	}
	body, err := readBody(br, length)
	if err != nil {
		return Result{}, err
	}
	res.Rules, err = parseRules(body)
	return res, err
}

// readStatus reads "SPAMD/1.x CODE MESSAGE" and returns MESSAGE; a CODE
// other than 0 is a *ResponseError.
func readStatus(br *bufio.Reader) (string, error) {
	line, err := readLine(br)
	if err != nil {
		return "", err
	}
	rest, ok := strings.CutPrefix(line, "SPAMD/")
	if !ok {
		return "", protocolError("status line %.40q is not SPAMD/", line)
	}
	version, rest, _ := strings.Cut(rest, " ")
	if !validVersion(version) {
		return "", protocolError("status line %.40q: bad version", line)
	}
	codeText, msg, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || code < 0 || code > 255 {
		return "", protocolError("status line %.40q: bad code", line)
	}
	if code != 0 {
		return "", &ResponseError{Code: code, Message: msg}
	}
	return msg, nil
}

// validVersion accepts "1.0" ... "1.5" and later minor versions.
func validVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	return ok && major == "1" && minor != "" && strings.Trim(minor, "0123456789") == ""
}

// readHeaders reads the header lines up to the blank line. It returns the
// verdict from "Spam:" and the Content-length, -1 when absent.
func readHeaders(br *bufio.Reader) (Result, int, error) {
	var res Result
	length, sawSpam := -1, false
	for range maxHeaders {
		line, err := readLine(br)
		if err != nil {
			return Result{}, 0, err
		}
		if line == "" {
			if !sawSpam {
				return Result{}, 0, protocolError("no Spam: header")
			}
			return res, length, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return Result{}, 0, protocolError("header %.40q has no colon", line)
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			if length, err = parseLength(value); err != nil {
				return Result{}, 0, err
			}
		case "spam":
			if res, err = parseSpam(value); err != nil {
				return Result{}, 0, err
			}
			sawSpam = true
		}
	}
	return Result{}, 0, protocolError("more than %d header lines", maxHeaders)
}

func parseLength(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxBody {
		return 0, protocolError("Content-length %.20q", v)
	}
	return n, nil
}

// parseSpam parses "True ; 1003.3 / 5.0".
func parseSpam(v string) (Result, error) {
	flag, scores, ok1 := strings.Cut(v, ";")
	score, threshold, ok2 := strings.Cut(scores, "/")
	if !ok1 || !ok2 {
		return Result{}, protocolError("Spam: %.60q", v)
	}
	var res Result
	switch strings.ToLower(strings.TrimSpace(flag)) {
	case "true", "yes":
		res.Spam = true
	case "false", "no":
	default:
		return Result{}, protocolError("Spam: %.60q: neither True nor False", v)
	}
	var err1, err2 error
	res.Score, err1 = parseScore(score)
	res.Threshold, err2 = parseScore(threshold)
	if err := errors.Join(err1, err2); err != nil {
		return Result{}, protocolError("Spam: %.60q: %v", v, err)
	}
	return res, nil
}

// parseScore accepts finite numbers only: NaN would defeat every
// comparison made with the score later.
func parseScore(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not a finite number")
	}
	return f, nil
}

// readBody reads length bytes, or up to EOF when spamd sent no length
// (protocol versions before 1.3).
func readBody(br *bufio.Reader, length int) ([]byte, error) {
	if length < 0 {
		b, err := io.ReadAll(io.LimitReader(br, maxBody))
		if err != nil {
			return nil, protocolError("reading rule names: %v", err)
		}
		return b, nil
	}
	b := make([]byte, length)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, protocolError("reading %d bytes of rule names: %v", length, err)
	}
	return b, nil
}

// parseRules splits the comma-separated rule names. A name must look like
// one (letters, digits, '_'): the names end up in logs and header fields.
func parseRules(body []byte) ([]string, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	parts := strings.Split(string(body), ",")
	if len(parts) > maxRules {
		return nil, protocolError("more than %d rule names", maxRules)
	}
	rules := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if !validRuleName(p) {
			return nil, protocolError("rule name %.40q", p)
		}
		rules = append(rules, p)
	}
	return rules, nil
}

func validRuleName(s string) bool {
	if s == "" || len(s) > maxRuleName {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// readLine reads one CRLF- (or LF-) terminated line of at most maxLine
// bytes, without the terminator.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", protocolError("line longer than %d bytes", maxLine)
	case errors.Is(err, io.EOF) && len(line) == 0:
		return "", protocolError("connection closed before the end of the response: %w", io.ErrUnexpectedEOF)
	case errors.Is(err, io.EOF):
		return "", protocolError("connection closed in a line: %w", io.ErrUnexpectedEOF)
	case err != nil:
		return "", fmt.Errorf("read response: %w", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"), nil
}
