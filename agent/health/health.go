// Package health is the daemon's one registry of what is wrong: declared
// warnings (code, severity, title, text with the measured value, remedy,
// since when). The dashboard's Warnings section, `cld status`, `cld doctor`
// and the inventory report all read the same Registry.
//
// A warning kind is declared once, at package level, as a Def: its code,
// severity, title, remedy and the template of its text, whose {name}
// placeholders raising it fills with what was measured:
//
//	var ClockDrift = health.Declare(health.Def{Code: "clock_drift", Severity: api.SeverityWarning,
//		Title: "…", Text: "… Clock drift detected: {drift}", Remedy: "…"})
//	reg.Set(ClockDrift.Say("drift", "44s"))
//
// The remedy may have placeholders too (Say fills both). A kind whose text
// has several forms (another sentence, not just other values) declares a
// Def per form with the same code. With gives a text that is wholly a value
// from elsewhere (e.g. an error's own message). Declare keeps every Def, so
// that Defs lists them: the dashboard's catalogs hold each title, text
// template and remedy (in English as the msgid), and a test holds them to it.
//
// Set keeps the time a code was first raised (Since) while the same code
// stays set, even when its text or severity changes; Clear forgets it, so a
// later Set starts a new Since.
package health

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudlink/cld/agent/api"
)

// Def declares a kind of warning (or one form of its text).
type Def struct {
	Code     string
	Severity string // api.Severity*
	Title    string
	// Text is the template of the text, with {name} placeholders for the
	// measured values (see Say); "" when the text is wholly a value from
	// elsewhere (see With).
	Text string
	// Remedy says what to do; its placeholders, if any, are filled by Say.
	Remedy string
}

// Say is the warning of this kind with its text (and remedy) filled from
// kv, pairs of a placeholder's name and its value: Say("path", p, "error",
// err). A value is shown as fmt's %v shows it.
func (d Def) Say(kv ...any) api.Warning {
	return api.Warning{Code: d.Code, Severity: d.Severity, Title: d.Title, Text: Fill(d.Text, kv...), Remedy: Fill(d.Remedy, kv...)}
}

// With is the warning of this kind with the given text: for a text that is
// wholly a value from elsewhere (e.g. an error's own message).
func (d Def) With(text string) api.Warning {
	return api.Warning{Code: d.Code, Severity: d.Severity, Title: d.Title, Text: text, Remedy: d.Remedy}
}

// Fill replaces each {name} of template by its value in kv (pairs of a name
// and a value); a placeholder without a value stays as it is.
func Fill(template string, kv ...any) string {
	if len(kv) < 2 || !strings.Contains(template, "{") {
		return template
	}
	pairs := make([]string, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		name, _ := kv[i].(string)
		pairs = append(pairs, "{"+name+"}", fmt.Sprint(kv[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(template)
}

var (
	defsMu sync.Mutex
	defs   []Def
)

// Declare records d among every declared warning (see Defs) and returns
// it; call it where the Def is declared, at package level. It panics on a
// Def without a code or a title.
func Declare(d Def) Def {
	if d.Code == "" || d.Title == "" {
		panic(fmt.Sprintf("health: a warning declared without a code or a title: %+v", d))
	}
	defsMu.Lock()
	defs = append(defs, d)
	defsMu.Unlock()
	return d
}

// Defs returns every Def declared so far (by the packages linked in), by
// code, in the order of their declaration within a code.
func Defs() []Def {
	defsMu.Lock()
	out := slices.Clone(defs)
	defsMu.Unlock()
	slices.SortStableFunc(out, func(a, b Def) int { return strings.Compare(a.Code, b.Code) })
	return out
}

// Registry holds the current warnings. Its methods are safe for concurrent
// use; the zero value is not usable: make one with New.
type Registry struct {
	now func() time.Time

	mu       sync.Mutex
	m        map[string]api.Warning
	onChange []func()
	probes   []func()
}

// New returns an empty registry; now stamps Since (time.Now when nil).
func New(now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{now: now, m: map[string]api.Warning{}}
}

// OnChange calls f (without locks held) after every change of the set of
// warnings or of one warning's content.
func (r *Registry) OnChange(f func()) {
	r.mu.Lock()
	r.onChange = append(r.onChange, f)
	r.mu.Unlock()
}

// AddProbe adds a check that Refresh runs: for a warning that is derived
// from a part's state (e.g. an unconfirmed revocation) rather than raised
// when something happens. A probe Sets or Clears its own codes.
func (r *Registry) AddProbe(p func()) {
	r.mu.Lock()
	r.probes = append(r.probes, p)
	r.mu.Unlock()
}

// Refresh runs the probes (without locks held), so that a List after it
// shows the derived warnings as they are now.
func (r *Registry) Refresh() {
	r.mu.Lock()
	ps := r.probes
	r.mu.Unlock()
	for _, p := range ps {
		p()
	}
}

// Set raises w (replacing the warning with the same code). Since is kept
// from the earlier warning of the same code; otherwise it is now, unless w
// carries one.
func (r *Registry) Set(w api.Warning) {
	if w.Code == "" {
		panic("health: a warning without a code")
	}
	if w.Severity == "" {
		w.Severity = api.SeverityWarning
	}
	r.mu.Lock()
	old, had := r.m[w.Code]
	switch {
	case had && old.Since != nil:
		w.Since = old.Since
	case w.Since == nil:
		t := r.now().UTC().Truncate(time.Second)
		w.Since = &t
	default:
		t := *w.Since
		w.Since = &t
	}
	changed := !had || !same(old, w)
	r.m[w.Code] = w
	fs := r.onChange
	r.mu.Unlock()
	if changed {
		for _, f := range fs {
			f()
		}
	}
}

func same(a, b api.Warning) bool {
	return a.Code == b.Code && a.Severity == b.Severity && a.Title == b.Title && a.Text == b.Text && a.Remedy == b.Remedy
}

// Clear removes the warnings with the given codes (absent ones are ignored).
func (r *Registry) Clear(codes ...string) {
	r.mu.Lock()
	n := len(r.m)
	for _, c := range codes {
		delete(r.m, c)
	}
	changed := len(r.m) != n
	fs := r.onChange
	r.mu.Unlock()
	if changed {
		for _, f := range fs {
			f()
		}
	}
}

// Update sets w when on, else clears w.Code: for a condition evaluated
// again and again.
func (r *Registry) Update(on bool, w api.Warning) {
	if on {
		r.Set(w)
	} else {
		r.Clear(w.Code)
	}
}

// Get returns the warning with the code, if set.
func (r *Registry) Get(code string) (api.Warning, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.m[code]
	if ok {
		w = clone(w)
	}
	return w, ok
}

// Has tells whether the code is set.
func (r *Registry) Has(code string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[code]
	return ok
}

// List returns the warnings, most severe first, then by code; never nil.
func (r *Registry) List() []api.Warning {
	r.mu.Lock()
	out := make([]api.Warning, 0, len(r.m))
	for _, w := range r.m {
		out = append(out, clone(w))
	}
	r.mu.Unlock()
	Sort(out)
	return out
}

// Sort orders warnings most severe first, then by code.
func Sort(ws []api.Warning) {
	slices.SortFunc(ws, func(x, y api.Warning) int {
		if c := Rank(y.Severity) - Rank(x.Severity); c != 0 {
			return c
		}
		return strings.Compare(x.Code, y.Code)
	})
}

// Rank orders severities: error 2, warning 1, info 0.
func Rank(sev string) int {
	switch sev {
	case api.SeverityError:
		return 2
	case api.SeverityWarning:
		return 1
	}
	return 0
}

func clone(w api.Warning) api.Warning {
	if w.Since != nil {
		t := *w.Since
		w.Since = &t
	}
	return w
}
