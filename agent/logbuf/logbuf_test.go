package logbuf

import (
	"fmt"
	"strings"
	"testing"
)

func TestBufferKeepsTheLastLines(t *testing.T) {
	b := New(30)
	for i := range 10 {
		fmt.Fprintf(b, "line %d\n", i)
	}
	b.Write([]byte("half"))
	got := string(b.Bytes())
	if !strings.HasPrefix(got, "line 6\n") || !strings.HasSuffix(got, "line 9\nhalf") || len(got) > 34 {
		t.Errorf("kept %q", got)
	}
	b.Write([]byte(" done\n"))
	if got := string(b.Bytes()); !strings.HasSuffix(got, "half done\n") {
		t.Errorf("kept %q", got)
	}
}
