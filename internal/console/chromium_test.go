package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/prometheus-dds/dds/internal/testnet"
	"github.com/prometheus-dds/dds/internal/testtool"
)

// chromium finds a Chromium or Chrome to drive.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testtool.Missing(t, "Chromium", "apt-get install chromium")
	return ""
}

// testChromium drives the console in headless Chromium as an operator
// would: a wrong token is refused where the operator sees it; the admin
// token signs in; every view shows the network's real data. Screenshots of
// each step are kept in a directory the test names.
func testChromium(t *testing.T, w world) {
	exe := chromium(t)
	shots, err := os.MkdirTemp("", "dds-console-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	// Chromium's helper processes may still write to its profile for a
	// moment after it exits: removed with a few tries, not by t.TempDir.
	profile, err := os.MkdirTemp("", "dds-console-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; os.RemoveAll(profile) != nil && i < 30; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})

	// The flags Debian's Chromium needs on a machine without a display or
	// an outside network.
	alloc, cancel := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		// A busy machine (the suite under -race on 2 cores) can take longer
		// than the default 20 s to start Chromium.
		chromedp.WSURLReadTimeout(2*time.Minute))
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	// Any script error, or a violation of the page's CSP, fails the test.
	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, fmt.Sprintf("exception: %s %+v", e.ExceptionDetails.Text, e.ExceptionDetails.Exception))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *cdplog.EventEntryAdded: // CSP violations among them
			refusal := e.Entry.Source == cdplog.SourceNetwork && (strings.Contains(e.Entry.Text, "401") || strings.Contains(e.Entry.Text, "403"))
			if (e.Entry.Level == cdplog.LevelError || e.Entry.Level == cdplog.LevelWarning) && !refusal {
				problems = append(problems, fmt.Sprintf("%s %s: %s", e.Entry.Source, e.Entry.Level, e.Entry.Text))
			}
		}
	})
	run0 := func(a chromedp.Action) { // the log domain reports CSP violations
		if err := chromedp.Run(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	run0(cdplog.Enable())

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var png []byte
			if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
				return err
			}
			p := filepath.Join(shots, name+".png")
			t.Logf("screenshot %s", p)
			return os.WriteFile(p, png, 0o644)
		})
	}
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// A browser at the node's root lands on the sign-in form.
	var at string
	run("open the node", chromedp.Navigate(w.nd.URL()+"/"), chromedp.WaitVisible("#signin", chromedp.ByID), chromedp.Location(&at))
	if !strings.HasSuffix(at, "/console/") {
		t.Fatalf("a browser at / is at %s", at)
	}

	// A wrong token, then a user's token, are refused where one sees it.
	var refused string
	for _, c := range []struct{ name, token, want string }{{"refused-wrong-token", "not-a-token", "401"}, {"refused-user-token", w.nd.UserToken, "403"}} {
		run("sign in with "+c.name, chromedp.SendKeys("#token", c.token, chromedp.ByID), chromedp.Click(`#signin button[type="submit"]`, chromedp.ByQuery),
			chromedp.Poll(`document.getElementById("signin-error").textContent.includes("HTTP `+c.want+`")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
			chromedp.WaitVisible("#signin-error", chromedp.ByID), chromedp.WaitNotVisible("#nav", chromedp.ByID),
			chromedp.Text("#signin-error", &refused, chromedp.ByID), shot(c.name))
		if !strings.Contains(refused, "refused") || !strings.Contains(refused, c.want) {
			t.Errorf("%s: the page says %q", c.name, refused)
		}
	}

	run("sign in", chromedp.SendKeys("#token", w.nd.AdminToken, chromedp.ByID), chromedp.Click(`#signin button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#nav", chromedp.ByID), chromedp.WaitNotVisible("#signin", chromedp.ByID))

	var ids []string
	for _, n := range w.nw.Nodes {
		ids = append(ids, n.Key.ID())
	}
	price := w.file.Quote.Price
	views := []struct {
		name string
		want []string
	}{
		{"network", append([]string{"(this node)", "alive"}, ids...)},
		{"storage", []string{"Disk free", "dds", "dep7"}},
		{"money", []string{testnet.Start.Format(time.DateOnly), price}},
		{"files", []string{w.file.ID, "console.bin", "stored"}},
		{"storlets", []string{"Runs since start", "ok"}},
		{"compute", []string{"Jobs by status", "Newest jobs", w.job.JobID, "raw code", w.job.Environment}},
		{"deals", []string{"Deals by state", "Completed", "Newest deals", w.deal, "Created", "Prepaid", "0.00021 BTC"}},
	}
	for _, v := range views {
		var text string
		var before int
		// A load newer than any before the click: the view shown at sign-in
		// may be this one, loaded already and about to be cleared by the
		// click's hashchange.
		run("view "+v.name, chromedp.Evaluate(`Number(document.getElementById("view").dataset.loaded || 0)`, &before),
			chromedp.Click(`#nav a[href="#`+v.name+`"]`, chromedp.ByQuery),
			chromedp.Poll(fmt.Sprintf(`(() => { const v = document.getElementById("view"); return v.dataset.view === %q && Number(v.dataset.loaded || 0) > %d })()`, v.name, before),
				nil, chromedp.WithPollingTimeout(30*time.Second)),
			chromedp.Text("#view", &text, chromedp.ByID), shot(v.name))
		for _, want := range v.want {
			if !strings.Contains(text, want) {
				t.Errorf("view %s lacks %q:\n%s", v.name, want, text)
			}
		}
		if strings.Contains(text, "Could not update") {
			t.Errorf("view %s: %s", v.name, text)
		}
	}

	// Every copy of the file is listed with its node; the chart has a bar
	// per day and series, the paid one of today not empty.
	var copies, bars int
	var paidToday string
	run("files and chart",
		chromedp.Click(`#nav a[href="#files"]`, chromedp.ByQuery), chromedp.WaitVisible(`#view[data-view="files"][data-loaded]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#view-body .holder .state-stored").length`, &copies),
		chromedp.Click(`#nav a[href="#money"]`, chromedp.ByQuery), chromedp.WaitVisible(`#view[data-view="money"][data-loaded]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("svg.chart rect").length`, &bars),
		chromedp.Evaluate(`[...document.querySelectorAll("svg.chart rect.paid")].pop().getAttribute("height")`, &paidToday))
	if copies != len(w.nw.Nodes) || bars != 14*3 || paidToday == "0" || paidToday == "" {
		t.Errorf("copies shown %d, chart bars %d, today's paid bar height %q", copies, bars, paidToday)
	}

	// The token is nowhere in the page once signed in, and the views
	// update by themselves.
	var inPage bool
	var loaded1, loaded2 string
	run("token and polling",
		chromedp.Evaluate(fmt.Sprintf(`document.documentElement.outerHTML.includes(%q) || document.getElementById("token").value !== ""`, w.nd.AdminToken), &inPage),
		chromedp.AttributeValue("#view", "data-loaded", &loaded1, nil, chromedp.ByID),
		chromedp.Sleep(3500*time.Millisecond),
		chromedp.AttributeValue("#view", "data-loaded", &loaded2, nil, chromedp.ByID))
	if inPage {
		t.Error("the admin token is in the page after sign-in")
	}
	if loaded1 == loaded2 {
		t.Errorf("the view did not refresh within 3.5 s (%s)", loaded1)
	}

	// Signing out forgets the token.
	var stored bool
	run("sign out", chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#signin", chromedp.ByID),
		chromedp.Evaluate(`sessionStorage.getItem("dds-console-token") !== null`, &stored))
	if stored {
		t.Error("the token outlived signing out")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("in the page: %s", p)
	}
}
