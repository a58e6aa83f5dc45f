package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// The web UI's session limits (docs/HOSTILE.md). Sessions are created only
// by a correct password, so the table's bound protects memory against a
// script that logs in in a loop, not against strangers.
const (
	// maxSessions bounds the session table; a log-in past it evicts the
	// session that was idle longest.
	maxSessions = 256
	// sessionIdle ends a session nobody used for this long.
	sessionIdle = 30 * time.Minute
	// sessionMaxAge ends every session this long after its log-in, used
	// or not.
	sessionMaxAge = 12 * time.Hour
)

// session is one logged-in browser.
type session struct {
	user    string
	csrf    string // the token every form of this session carries
	created time.Time
	seen    time.Time // last request
}

// sessionStore is the server-side session table. It is keyed by the
// SHA-256 of the cookie's value, so that the map's lookup time says
// nothing about the ids it holds.
type sessionStore struct {
	mu      sync.Mutex
	byHash  map[[sha256.Size]byte]*session
	max     int
	idle    time.Duration
	maxAge  time.Duration
	now     func() time.Time
	evicted func() // called when a log-in evicts a live session
}

func newSessionStore(max int, idle, maxAge time.Duration) *sessionStore {
	return &sessionStore{
		byHash: make(map[[sha256.Size]byte]*session),
		max:    max, idle: idle, maxAge: maxAge,
		now:     time.Now,
		evicted: func() {},
	}
}

// randomToken is 32 random bytes in base64url: a session id or a CSRF token.
func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// create starts a session for user and returns its id (the cookie's value).
func (s *sessionStore) create(user string) (string, *session, error) {
	id, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	sess := &session{user: user, csrf: csrf, created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byHash) >= s.max {
		s.sweepLocked(now)
	}
	if len(s.byHash) >= s.max {
		s.evictIdlestLocked()
	}
	s.byHash[sha256.Sum256([]byte(id))] = sess
	return id, sess, nil
}

// get returns the live session with this id and marks it used; nil for an
// unknown, forged or expired id.
func (s *sessionStore) get(id string) *session {
	if id == "" {
		return nil
	}
	key := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byHash[key]
	if sess == nil {
		return nil
	}
	if s.expired(sess, now) {
		delete(s.byHash, key)
		return nil
	}
	sess.seen = now
	return sess
}

// delete ends the session with this id (log-out).
func (s *sessionStore) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byHash, sha256.Sum256([]byte(id)))
}

// len is the number of sessions held (live or not yet swept).
func (s *sessionStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byHash)
}

func (s *sessionStore) expired(sess *session, now time.Time) bool {
	return now.Sub(sess.seen) > s.idle || now.Sub(sess.created) > s.maxAge
}

// sweepLocked drops expired sessions; called only when the table is full,
// so an idle server does no work.
func (s *sessionStore) sweepLocked(now time.Time) {
	for k, sess := range s.byHash {
		if s.expired(sess, now) {
			delete(s.byHash, k)
		}
	}
}

// evictIdlestLocked drops the session unused for longest.
func (s *sessionStore) evictIdlestLocked() {
	var oldest [sha256.Size]byte
	var found *session
	for k, sess := range s.byHash {
		if found == nil || sess.seen.Before(found.seen) {
			oldest, found = k, sess
		}
	}
	if found != nil {
		delete(s.byHash, oldest)
		s.evicted()
	}
}

// validCSRF compares a form's token with the session's in constant time.
func (sess *session) validCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(sess.csrf)) == 1
}
