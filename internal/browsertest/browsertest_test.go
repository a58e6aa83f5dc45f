package browsertest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserRig checks the rig itself: the page is read, a dialog the page
// opens is recorded (not left blocking), a screenshot is a PNG file.
func TestBrowserRig(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/alert":
			_, _ = w.Write([]byte(`<!doctype html><title>a</title><p id="p">x</p><script>alert("hello")</script>`))
		default:
			_, _ = w.Write([]byte(`<!doctype html><title>rig</title><h1 id="h">Hello &lt;b&gt;</h1>`))
		}
	}))
	defer srv.Close()

	b := Start(t)
	b.Do(chromedp.Navigate(srv.URL + "/"))
	if got := Run(b, chromedp.Text(chromedp.ID("h"))); got != "Hello <b>" {
		t.Errorf("text = %q", got)
	}
	if got := Run(b, chromedp.Title()); got != "rig" {
		t.Errorf("title = %q", got)
	}
	file := b.Screenshot("page")
	data, err := os.ReadFile(file)
	if err != nil || len(data) < 8 || string(data[1:4]) != "PNG" {
		t.Errorf("screenshot %s is not a PNG (%v)", file, err)
	}
	if d := b.Dialogs(); len(d) != 0 {
		t.Errorf("dialogs before the alert page: %q", d)
	}
	b.Do(chromedp.Navigate(srv.URL+"/alert"), chromedp.WaitVisible(chromedp.ID("p")))
	// The dialog's event may come a moment after the element shows.
	for i := 0; i < 50 && len(b.Dialogs()) == 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if d := b.Dialogs(); len(d) != 1 || d[0] != "hello" {
		t.Errorf("dialogs = %q, want [hello]", d)
	}
}
