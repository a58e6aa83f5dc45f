package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestLoginLimiter: max failures per window per client, then refused
// until the window has passed; other clients unaffected.
func TestLoginLimiter(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		failures int
		at       time.Duration // when the next attempt comes
		client   string
		want     bool
	}{
		{"under the limit", 2, time.Second, "a", true},
		{"at the limit", 3, time.Second, "a", false},
		{"window passed", 3, time.Minute, "a", true},
		{"other client", 3, time.Second, "b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLoginLimiter(3, time.Minute)
			for range tt.failures {
				l.fail("a", t0)
			}
			if got := l.allow(tt.client, t0.Add(tt.at)); got != tt.want {
				t.Errorf("allow = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLoginLimiterBounded: the limiter holds at most maxTracked clients.
func TestLoginLimiterBounded(t *testing.T) {
	l := newLoginLimiter(3, time.Minute)
	t0 := time.Now()
	for i := range maxTracked + 100 {
		l.fail(fmt.Sprint(i), t0.Add(time.Duration(i)))
	}
	if n := len(l.clients); n > maxTracked {
		t.Errorf("%d clients tracked, cap %d", n, maxTracked)
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"not an address":       "not an address",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUsersFileReload: a changed users file is read at the next login; a
// broken one lets nobody in; a password is never in an error.
func TestUsersFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	write := func(lines string) {
		t.Helper()
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(lines), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil { // a new inode, as SetPassword writes it
			t.Fatal(err)
		}
	}
	hash := func(p string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	write("alice:" + hash("one") + "\n")
	u, err := openUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.check(context.Background(), "alice", "one"); err != nil {
		t.Fatal(err)
	}
	if err := u.check(context.Background(), "alice", "one"); err != nil { // remembered
		t.Fatal(err)
	}
	write("alice:" + hash("two") + "\nbob:" + hash("three") + "\n")
	if err := u.check(context.Background(), "alice", "one"); err == nil {
		t.Error("the old password still works after the file changed")
	}
	if err := u.check(context.Background(), "bob", "three"); err != nil {
		t.Errorf("new user: %v", err)
	}
	write("alice " + hash("two") + "\n")
	if err := u.check(context.Background(), "alice", "two"); err == nil {
		t.Error("a broken file let alice in")
	}
	for _, bad := range []string{"alice", "alice:", ":x", "alice:notbcrypt"} {
		if _, err := ParseUsers("f", []byte(bad+"\n")); err == nil {
			t.Errorf("ParseUsers(%q) accepted", bad)
		}
	}
}

// TestCheckPasswordErrors: the console's answers for each case, and the
// limit's effect on a right password.
func TestCheckPasswordErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	if err := SetPassword(path, "alice", "pw", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	c := &Console{users: mustUsers(t, path), limiter: newLoginLimiter(2, time.Hour), now: time.Now, log: discard()}
	ctx := context.Background()
	steps := []struct {
		user, pass string
		want       error
	}{
		{"alice", "pw", nil},
		{"alice", "bad", ErrBadLogin},
		{"nobody", "pw", ErrBadLogin},
		{"alice", "pw", ErrRateLimited},
	}
	for i, s := range steps {
		if err := c.CheckPassword(ctx, s.user, s.pass, "192.0.2.1"); !errors.Is(err, s.want) {
			t.Errorf("step %d (%s): %v, want %v", i, s.user, err, s.want)
		}
	}
}

func mustUsers(t *testing.T, path string) *userFile {
	t.Helper()
	u, err := openUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkBasicAuth: what HTTP Basic costs per API request at bcrypt cost
// 12: a full check (the first request, a wrong password) and a remembered
// one (every later request with the same password).
func BenchmarkBasicAuth(b *testing.B) {
	path := filepath.Join(b.TempDir(), "users")
	if err := SetPassword(path, "alice", "pw", BcryptCost); err != nil {
		b.Fatal(err)
	}
	u, err := openUsers(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("wrong", func(b *testing.B) {
		for b.Loop() {
			_ = u.check(context.Background(), "alice", "nope")
		}
	})
	b.Run("remembered", func(b *testing.B) {
		_ = u.check(context.Background(), "alice", "pw")
		b.ReportAllocs()
		for b.Loop() {
			if err := u.check(context.Background(), "alice", "pw"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestBcryptBounded: a login waits while maxBcrypt checks run, and gives
// up when its request ends; a remembered password does not wait.
func TestBcryptBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	if err := SetPassword(path, "alice", "pw", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	u := mustUsers(t, path)
	if err := u.check(context.Background(), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	for range maxBcrypt {
		u.bcrypt <- struct{}{} // every slot taken
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := u.check(ctx, "alice", "other"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("check with every slot taken: %v, want the request's deadline", err)
	}
	if err := u.check(ctx, "alice", "pw"); err != nil {
		t.Errorf("a remembered password waited: %v", err)
	}
	for range maxBcrypt {
		<-u.bcrypt
	}
	if err := u.check(context.Background(), "alice", "other"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("check after the slots are free: %v, want a wrong password", err)
	}
}
