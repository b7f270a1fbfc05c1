// Package metrics writes the daemon's metrics in the Prometheus text
// exposition format (version 0.0.4), collected from the parts' own state
// when scraped: nothing is kept or computed between scrapes. It is written
// by hand rather than with the Prometheus client library, whose registry,
// protobuf and runtime collectors would add to the daemon's binary and
// resident memory (see the README's performance section).
package metrics

import (
	"bytes"
	"math"
	"strconv"
	"strings"
)

// ContentType is the exposition format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Writer builds one exposition. A family's samples must be written one
// after another; its HELP and TYPE lines come with its first sample.
type Writer struct {
	b    bytes.Buffer
	last string
}

// Counter writes a sample of the counter name with labels (name, value
// pairs).
func (w *Writer) Counter(name, help string, v float64, labels ...string) {
	w.sample(name, help, "counter", v, labels)
}

// Gauge writes a sample of the gauge name with labels (name, value pairs).
func (w *Writer) Gauge(name, help string, v float64, labels ...string) {
	w.sample(name, help, "gauge", v, labels)
}

// Bool is 1 for true, 0 for false.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Bytes is the exposition so far.
func (w *Writer) Bytes() []byte { return w.b.Bytes() }

func (w *Writer) sample(name, help, typ string, v float64, labels []string) {
	if name != w.last {
		w.b.WriteString("# HELP " + name + " " + escape(help, false) + "\n")
		w.b.WriteString("# TYPE " + name + " " + typ + "\n")
		w.last = name
	}
	w.b.WriteString(name)
	if len(labels) > 0 {
		w.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.b.WriteString(labels[i] + `="` + escape(labels[i+1], true) + `"`)
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	w.b.WriteString(formatValue(v))
	w.b.WriteByte('\n')
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escape escapes a HELP text (backslash, newline) or a label value (also
// the double quote).
func escape(s string, quote bool) string {
	r := []string{`\`, `\\`, "\n", `\n`}
	if quote {
		r = append(r, `"`, `\"`)
	}
	return strings.NewReplacer(r...).Replace(s)
}
