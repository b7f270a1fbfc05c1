package ui

import (
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/a-h/templ/parser/v2"

	"github.com/cloudlink/cld/ui/i18n"
)

// textAllowed are the only texts with letters that a template may show
// outside the catalog.
var textAllowed = map[string]string{
	"CloudLink Daemon":   "the product's name (page heading, and the title's suffix)",
	"· CloudLink Daemon": "the title's suffix after the page's title: the product's name",
}

// visibleAttrs are the attributes a user reads (or hears).
var visibleAttrs = map[string]bool{"title": true, "aria-label": true, "placeholder": true, "alt": true, "aria-description": true}

// catalogCall is an expression that goes through the catalog (or shows
// a value that is not the ui's own text).
var catalogCall = regexp.MustCompile(`^(tr|trN|trText|trHTML)\(ctx, `)

// stringLiteral finds Go string literals with letters in an expression.
var stringLiteral = regexp.MustCompile(`"((?:[^"\\]|\\.)*[A-Za-z](?:[^"\\]|\\.)*)"`)

// Every user-visible text of every template goes through the catalog: a
// text node or a user-visible attribute (title, aria-label, placeholder,
// alt, a button's value) with letters must be a catalog call, and so must
// an expression that shows a string literal with letters.
func TestTemplatesUseCatalog(t *testing.T) {
	files, err := filepath.Glob("*.templ")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	for _, f := range files {
		tf, err := parser.Parse(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range uncataloged(f, tf) {
			t.Error(p)
		}
	}
}

// The check finds text outside the catalog.
func TestTemplateCheckFindsText(t *testing.T) {
	tf, err := parser.ParseString(`package ui

templ bad(name string) {
	<p>Hello</p>
	<p>{ tr(ctx, "Fine") } · 42 | CloudLink Daemon</p>
	<button aria-label="Close">{ "Shut" }</button>
	<input type="submit" value="Send"/>
	<input type="text" value="typed"/>
	<a title={ "x " + name } href="/">{ tr(ctx, "Fine") }</a>
	if name != "" {
		<option>Every day</option>
	}
}
`)
	if err != nil {
		t.Fatal(err)
	}
	got := uncataloged("bad.templ", tf)
	want := []string{
		`bad.templ:4: text "Hello" is not in the catalog`,
		`bad.templ:6: <button aria-label="Close">`,
		`bad.templ:6: a text shows "Shut"`,
		`bad.templ:7: <input value="Send">`,
		`bad.templ:9: <a title> shows "x "`,
		`bad.templ:11: text "Every day"`,
	}
	if len(got) != len(want) {
		t.Fatalf("found %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want it to start with %q", i, got[i], want[i])
		}
	}
}

// uncataloged lists a template file's user-visible texts outside the
// catalog.
func uncataloged(file string, tf *parser.TemplateFile) []string {
	var problems []string
	report := func(line uint32, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: ", file, line+1)+fmt.Sprintf(format, args...))
	}
	checkExpr := func(e parser.Expression, what string) {
		v := strings.TrimSpace(e.Value)
		if catalogCall.MatchString(v) {
			return
		}
		if m := stringLiteral.FindString(v); m != "" {
			report(e.Range.From.Line, "%s shows %s outside the catalog: { %s }", what, m, v)
		}
	}
	var checkAttrs func(element string, line uint32, attrs []parser.Attribute)
	checkAttrs = func(element string, line uint32, attrs []parser.Attribute) {
		isButton := element == "button"
		for _, a := range attrs {
			if c, ok := a.(*parser.ConstantAttribute); ok && c.Key.String() == "type" && element == "input" {
				switch c.Value {
				case "submit", "button", "reset":
					isButton = true
				}
			}
		}
		for _, a := range attrs {
			switch a := a.(type) {
			case *parser.ConstantAttribute:
				k := a.Key.String()
				if (visibleAttrs[k] || (k == "value" && isButton)) && hasLetter(a.Value) {
					report(line, "<%s %s=%q>: a user-visible attribute outside the catalog", element, k, a.Value)
				}
			case *parser.ExpressionAttribute:
				k := a.Key.String()
				if visibleAttrs[k] || (k == "value" && isButton) {
					checkExpr(a.Expression, fmt.Sprintf("<%s %s>", element, k))
				}
			case *parser.ConditionalAttribute:
				checkAttrs(element, line, a.Then)
				checkAttrs(element, line, a.Else)
			}
		}
	}
	var walk func(n parser.Node)
	walk = func(n parser.Node) {
		switch n := n.(type) {
		case *parser.Text:
			if text := strings.TrimSpace(n.Value); hasLetter(text) && !allowedText(text) {
				report(n.Range.From.Line, "text %q is not in the catalog (use tr(ctx, …))", text)
			}
		case *parser.StringExpression:
			checkExpr(n.Expression, "a text")
		case *parser.Element:
			checkAttrs(n.Name, n.NameRange.From.Line, n.Attributes)
		case *parser.RawElement, *parser.ScriptElement:
			return
		}
		if c, ok := n.(parser.CompositeNode); ok {
			for _, child := range c.ChildNodes() {
				walk(child)
			}
		}
	}
	for _, n := range tf.Nodes {
		if h, ok := n.(*parser.HTMLTemplate); ok {
			for _, c := range h.Children {
				walk(c)
			}
		}
	}
	return problems
}

// allowedText tells a text of the allow-list, ignoring punctuation and
// digits around it.
func allowedText(text string) bool {
	core := strings.TrimFunc(text, func(r rune) bool { return !unicode.IsLetter(r) })
	_, ok := textAllowed[core]
	return ok
}

func hasLetter(s string) bool { return strings.IndexFunc(s, unicode.IsLetter) >= 0 }

// The messages that code not calling the catalog itself (the sign-in,
// link and error pages of handlers.go and server.go) hands to the page in
// English are catalog messages, so that the page shows them in its
// language: every string literal (or fmt.Sprintf format) given as a page
// title, an error page's sentence, a sign-in message or a flash message
// in the package's code, and the texts such code puts together.
func TestUntranslatedCallersCovered(t *testing.T) {
	de := i18n.Default().Lookup("de")
	texts := []string{
		// handleUnlink's message with its pending-revocation sentence.
		"Disconnected from CloudLink. The tunnels are stopped and the local credentials removed. The cloud could not be told yet; the daemon keeps retrying the revocation.",
		// daemonMessage's sentences.
		"The CloudLink daemon is not reachable. Check that the cld service is running.",
		"The CloudLink daemon could not do this: something broke",
	}
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_templ.go") {
			continue
		}
		file, err := goparser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			var exprs []ast.Expr
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				switch {
				case sel.Sel.Name == "errorPage" && len(n.Args) == 6:
					exprs = n.Args[4:]
				case sel.Sel.Name == "renderLogin" && len(n.Args) == 5:
					exprs = n.Args[4:]
				case sel.Sel.Name == "page" && len(n.Args) == 2:
					exprs = n.Args[1:]
				}
			case *ast.CompositeLit:
				if id, ok := n.Type.(*ast.Ident); ok && (id.Name == "flash" || id.Name == "page") {
					for _, e := range n.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							if k, ok := kv.Key.(*ast.Ident); ok && (k.Name == "Text" || k.Name == "Title") {
								exprs = append(exprs, kv.Value)
							}
						}
					}
				}
			}
			for _, e := range exprs {
				if s, ok := literalText(e); ok {
					texts = append(texts, s)
				}
			}
			return true
		})
	}
	t.Logf("%d texts handed over in English", len(texts))
	if len(texts) < 25 {
		t.Fatalf("only %d texts found", len(texts))
	}
	for _, s := range texts {
		if s == "CloudLink Daemon" { // the product's name, the same in every language
			if !de.Has(s) {
				t.Errorf("%q is not in the catalog", s)
			}
			continue
		}
		if got := de.Text(s); got == s || strings.HasPrefix(got, i18n.MissingPrefix) {
			t.Errorf("%q is shown untranslated: add it to the catalogs (locales/*.po)", s)
		}
	}
}

// literalText is the text of a string literal, or of a fmt.Sprintf call's
// format with sample values for its verbs.
func literalText(e ast.Expr) (string, bool) {
	if c, ok := e.(*ast.CallExpr); ok {
		if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sprintf" && len(c.Args) > 0 {
			f, ok := literalText(c.Args[0])
			if !ok {
				return "", false
			}
			return strings.NewReplacer("%s", "Sample", "%d", "42", "%v", "Sample", "%q", `"Sample"`).Replace(f), true
		}
		return "", false
	}
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil && hasLetter(s)
}

// msgidUse finds the catalog calls with a literal msgid in the package's
// code and templates.
var msgidUse = regexp.MustCompile(`(?:\btr|\btrN|\btrHTML|\.T|\.N)\((?:ctx, )?"((?:[^"\\]|\\.)*)"`)

// Every literal msgid the code and templates use is in the English catalog
// (the render tests reach most, this reaches every one).
func TestMsgidsInCatalog(t *testing.T) {
	en := i18n.Default().English()
	files, _ := filepath.Glob("*.templ")
	gofiles, _ := filepath.Glob("*.go")
	n := 0
	for _, f := range append(files, gofiles...) {
		if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_templ.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgidUse.FindAllStringSubmatch(string(src), -1) {
			id, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				t.Fatalf("%s: %q: %v", f, m[1], err)
			}
			n++
			if !en.Has(id) {
				t.Errorf("%s: msgid %q is not in locales/en.po", f, id)
			}
		}
	}
	if n < 200 {
		t.Errorf("only %d catalog calls found", n)
	}
	for _, wd := range weekdays {
		if !en.Has(wd.Name) {
			t.Errorf("weekday %q is not in locales/en.po", wd.Name)
		}
	}
	if en.N(gatewayMultipleText, 2) == i18n.MissingPrefix+gatewayMultipleText+"]" {
		t.Error("the sentence about several gateway instances is not in locales/en.po")
	}
	if !en.Has(gatewayMultipleRemedy) {
		t.Error("the guide's remedy for several gateway instances is not in locales/en.po")
	}
}
