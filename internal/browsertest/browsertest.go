// Package browsertest runs Debian's chromium headless for the web UI's
// tests, driven over the DevTools protocol with chromedp: a throwaway
// profile per browser, bounded timeouts on every step, screenshots kept as
// test artefacts, and a record of every JavaScript dialog a page opened (a
// stored XSS shows up as an alert the test did not expect).
//
// A missing chromium fails the test with the command that installs it:
// the browser tests are part of `make test` and must not skip silently.
package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// candidates are where Debian's chromium package puts the browser; the
// first that exists is used. SPAMGATE_CHROMIUM overrides them.
var candidates = []string{"/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser"}

// StepTimeout bounds one Do or Run: a page that never loads or an element
// that never appears fails the test instead of hanging it. Generous: a
// step takes well under a second, but a 2-core machine running the whole
// suite under -race can be many times slower.
const StepTimeout = 30 * time.Second

// startTimeout bounds the browser's start (a cold start on a loaded
// 2-core machine takes a few seconds).
const startTimeout = 60 * time.Second

// Browser is one headless chromium with one tab.
type Browser struct {
	t   testing.TB
	ctx context.Context // the tab; the browser lives as long as it
	dir string          // where screenshots go

	mu      sync.Mutex
	dialogs []string // messages of every JavaScript dialog opened
	output  bytes.Buffer
}

// ExecPath returns the chromium binary, or an error that says how to
// install it.
func ExecPath() (string, error) {
	if p := os.Getenv("SPAMGATE_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("chromium is not installed (the web UI's browser tests need it): run `sh scripts/test-deps.sh` or `apt-get install chromium`")
}

// Start runs a headless chromium for the test and closes it at cleanup.
func Start(t testing.TB) *Browser {
	t.Helper()
	path, err := ExecPath()
	if err != nil {
		t.Fatal(err)
	}
	b := &Browser{t: t, dir: ArtifactDir(t)}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.DisableGPU,
		chromedp.CombinedOutput(&lockedWriter{mu: &b.mu, w: &b.output}),
	)
	if os.Geteuid() == 0 {
		// chromium refuses to run as root with its sandbox on.
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })

	// The first action starts the browser and binds it to ctx, which has
	// no deadline; the start itself is bounded by a watchdog.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium (%s): %v\n%s", path, err, b.browserOutput())
		}
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("chromium did not start within %v\n%s", startTimeout, b.browserOutput())
	}
	b.ctx = ctx
	b.watchDialogs()
	return b
}

// watchDialogs records and dismisses every alert, confirm or prompt, so
// that one never blocks the page and the test can assert none opened.
func (b *Browser) watchDialogs() {
	dialogs := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
}

// Dialogs returns the messages of the dialogs pages opened so far.
func (b *Browser) Dialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

// Do runs steps within StepTimeout, failing the test on error.
func (b *Browser) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

// Run runs one action within StepTimeout and returns its value.
func Run[T any](b *Browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
	return v
}

// Load runs trigger (a click or a submit that navigates) and waits until
// the page it leads to has loaded: a later Navigate would otherwise abort
// that navigation.
func (b *Browser) Load(trigger chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	Run(b, chromedp.WaitEvent(page.LoadEventFired, nil, trigger))
}

// Context is the tab's context, for actions the helpers do not cover; the
// caller bounds its own steps.
func (b *Browser) Context() context.Context { return b.ctx }

// Location is the URL of the page shown.
func (b *Browser) Location() string { return Run(b, chromedp.Location()) }

// location is Location for error messages: it never fails the test.
func (b *Browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown page"
	}
	return loc
}

// Screenshot saves the whole page as NAME.png in the artefact directory
// and returns the file's path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	png := Run(b, chromedp.FullScreenshot(100))
	file := filepath.Join(b.dir, safeName(name)+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.t.Logf("screenshot: %s", file)
	return file
}

// browserOutput is what chromium printed, for start failures.
func (b *Browser) browserOutput() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.output.String()
	if len(out) > 4000 {
		out = out[len(out)-4000:]
	}
	return out
}

// ArtifactDir is where a test keeps its screenshots: under
// $SPAMGATE_ARTIFACTS when set, else under the repository's gitignored
// artifacts/ directory (found from the working directory, which go test
// sets to the package's), one subdirectory per test, emptied first.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("SPAMGATE_ARTIFACTS")
	if root == "" {
		root = filepath.Join(repoRoot(), "artifacts")
	}
	dir := filepath.Join(root, safeName(t.Name()))
	// A fresh directory per run: a screenshot left by an earlier run of
	// a changed test would pass for this run's.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("artefact dir: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artefact dir: %v", err)
	}
	return dir
}

// repoRoot walks up from the working directory to the directory holding
// go.mod; the working directory itself when there is none.
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return os.TempDir()
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd
		}
		dir = parent
	}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// safeName turns a test or page name into a file name.
func safeName(s string) string {
	return strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_")
}

// lockedWriter serializes chromium's output into the browser's buffer.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<20 { // keep the tail bounded: chromium can be chatty
		l.w.Reset()
	}
	return l.w.Write(p)
}
