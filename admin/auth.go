package admin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"spamgate/internal/fileid"
)

// BcryptCost is the cost `spamgate admin passwd` hashes with.
const BcryptCost = 12

// CheckPassword checks a login against the users file. Failed logins are
// counted per client address (an IPv6 client per /64): past the limit,
// every attempt from there is ErrRateLimited, a right password too, until
// the window has passed. The password is never logged.
func (c *Console) CheckPassword(ctx context.Context, user, pass, clientIP string) error {
	client := clientKey(clientIP)
	now := c.now()
	if !c.limiter.allow(client, now) {
		c.m.login("limited")
		c.log.Warn("admin login refused: too many failures", "user", user, "client", clientIP)
		return ErrRateLimited
	}
	if err := c.users.check(ctx, user, pass); err != nil {
		if ctx.Err() != nil {
			return err // the request ended while waiting: no verdict, no failure counted
		}
		c.limiter.fail(client, now)
		c.m.login("failed")
		c.log.Warn("admin login failed", "user", user, "client", clientIP, "reason", err.Error())
		return ErrBadLogin
	}
	c.m.login("ok")
	return nil
}

// clientKey is what failures are counted by: the address, an IPv6 one's /64
// (one host holds a whole /64).
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// userFile is the users file, re-read when it changes (checked at each
// login: one stat).
type userFile struct {
	path   string
	bcrypt chan struct{} // maxBcrypt slots

	mu    sync.Mutex
	state fileStamp
	users map[string][]byte // name → bcrypt hash
	// ok remembers recent successful checks, so that HTTP Basic (a
	// password on every request) does not pay bcrypt each time; it is
	// emptied when the file changes.
	ok map[[32]byte]time.Time
}

// okTTL is how long a verified password is remembered; okMax bounds them.
const (
	okTTL = 5 * time.Minute
	okMax = 1024
)

type fileStamp struct {
	size  int64
	mtime int64
	ino   uint64
}

// dummyHash is compared against for an unknown user when the file has no
// user at all.
var dummyHash = []byte("$2a$12$HZl/0oCR6QDLsqpEXV/AvOJaqrEyUBBcHgigMCmEwN.XIBv8hjHKW")

// anyHash is a hash of the file, compared against for an unknown user
// (with a password no user can have: it ends in NUL) so that a wrong name
// takes as long as a wrong password and user names cannot be probed.
func (u *userFile) anyHash() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, h := range u.users {
		return h
	}
	return dummyHash
}

func openUsers(path string) (*userFile, error) {
	u := &userFile{path: path, bcrypt: make(chan struct{}, maxBcrypt)}
	if path == "" {
		return u, nil // no users: nobody logs in
	}
	if err := u.reload(); err != nil {
		return nil, err
	}
	return u, nil
}

// maxBcrypt bounds the bcrypt comparisons running at once: each takes
// about a third of a second of one core (cost 12), and the milter shares
// the machine. Logins beyond it wait their turn (or their request's end).
const maxBcrypt = 1

// check verifies a password; the error says why, for the log only.
func (u *userFile) check(ctx context.Context, user, pass string) error {
	if user == "" || pass == "" {
		return errors.New("no user name or password")
	}
	hash, cached, err := u.lookup(user, pass)
	if err != nil {
		return err
	}
	if cached {
		return nil
	}
	known := hash != nil
	if !known {
		// As long as a wrong password takes: the cost of the file's hashes.
		hash, pass = u.anyHash(), pass+"\x00"
	}
	select {
	case u.bcrypt <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the password check: %w", ctx.Err())
	}
	err = bcrypt.CompareHashAndPassword(hash, []byte(pass))
	<-u.bcrypt
	switch {
	case !known:
		return errors.New("unknown user")
	case err != nil:
		return errors.New("wrong password")
	}
	u.remember(user, pass, hash)
	return nil
}

// lookup re-reads the file if it changed and returns the user's hash, or
// cached = true when this password was verified recently.
func (u *userFile) lookup(user, pass string) (hash []byte, cached bool, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.path == "" {
		return nil, false, errors.New("no users_file")
	}
	if st, err := stamp(u.path); err != nil || st != u.state {
		if err := u.reloadLocked(); err != nil {
			return nil, false, err // a broken file lets nobody in
		}
	}
	hash = u.users[user]
	if hash == nil {
		return nil, false, nil
	}
	if t, ok := u.ok[okKey(user, pass, hash)]; ok && time.Since(t) < okTTL {
		return hash, true, nil
	}
	return hash, false, nil
}

func (u *userFile) remember(user, pass string, hash []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.ok) >= okMax {
		clear(u.ok)
	}
	u.ok[okKey(user, pass, hash)] = time.Now()
}

// okKey binds a remembered check to the hash it passed: a changed
// password in the file forgets it.
func okKey(user, pass string, hash []byte) [32]byte {
	return sha256.Sum256([]byte(user + "\x00" + pass + "\x00" + string(hash)))
}

func (u *userFile) reload() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reloadLocked()
}

func (u *userFile) reloadLocked() error {
	st, err := stamp(u.path)
	if err != nil {
		u.users = nil
		return fmt.Errorf("users_file: %w", err)
	}
	data, err := os.ReadFile(u.path)
	if err != nil {
		u.users = nil
		return fmt.Errorf("users_file: %w", err)
	}
	users, err := ParseUsers(u.path, data)
	if err != nil {
		u.users = nil
		return err
	}
	u.users, u.state, u.ok = users, st, map[[32]byte]time.Time{}
	return nil
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ino: fileid.Inode(fi)}, nil
}

// ParseUsers reads "name:bcrypt-hash" lines (# comments and blank lines
// allowed); errors name the file and line.
func ParseUsers(name string, data []byte) (map[string][]byte, error) {
	users := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" || hash == "" {
			return nil, fmt.Errorf("%s:%d: not name:bcrypt-hash", name, n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash (make one with spamgate admin passwd)", name, n, user)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return users, nil
}

// ValidUserName is what a user name may be: it goes into the users file
// (no ':' or line breaks) and into logs and the audit.
func ValidUserName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("a user name is 1 to 64 characters")
	}
	for _, r := range name {
		if r <= ' ' || r == ':' || r == 0x7f || r == '#' {
			return fmt.Errorf("user name %q: no white space, ':', '#' or control characters", name)
		}
	}
	return nil
}

// SetPassword adds or changes name's line in the users file (bcrypt at
// cost, normally BcryptCost), written atomically; the other lines stay as
// they are.
func SetPassword(path, name, pass string, cost int) error {
	if err := ValidUserName(name); err != nil {
		return err
	}
	if pass == "" {
		return errors.New("empty password")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), cost)
	if err != nil {
		return fmt.Errorf("bcrypt: %w", err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := ParseUsers(path, old); err != nil {
		return err
	}
	var out []string
	replaced := false
	for _, line := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if u, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && u == name {
			line, replaced = name+":"+string(hash), true
		}
		if line != "" || len(out) > 0 {
			out = append(out, line)
		}
	}
	if !replaced {
		out = append(out, name+":"+string(hash))
	}
	return writeFileAtomic(path, []byte(strings.Join(out, "\n")+"\n"), 0o600)
}

// loginLimiter counts failed logins per client in a fixed window.
type loginLimiter struct {
	max    int
	window time.Duration

	mu      sync.Mutex
	clients map[string]*failures
}

type failures struct {
	start time.Time
	n     int
}

// maxTracked bounds the limiter's memory: past it, expired windows are
// dropped, and if none has expired the oldest goes.
const maxTracked = 10000

func newLoginLimiter(max int, window time.Duration) *loginLimiter {
	return &loginLimiter{max: max, window: window, clients: map[string]*failures{}}
}

func (l *loginLimiter) allow(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.clients[client]
	if f == nil || now.Sub(f.start) >= l.window {
		return true
	}
	return f.n < l.max
}

func (l *loginLimiter) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.clients[client]
	if f == nil || now.Sub(f.start) >= l.window {
		if f == nil && len(l.clients) >= maxTracked {
			l.prune(now)
		}
		l.clients[client] = &failures{start: now, n: 1}
		return
	}
	f.n++
}

// prune drops expired windows, or the oldest one when none has expired.
func (l *loginLimiter) prune(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, f := range l.clients {
		if now.Sub(f.start) >= l.window {
			delete(l.clients, k)
			continue
		}
		if oldest == "" || f.start.Before(oldestAt) {
			oldest, oldestAt = k, f.start
		}
	}
	if len(l.clients) >= maxTracked {
		delete(l.clients, oldest)
	}
}
