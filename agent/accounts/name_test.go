package accounts

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidUsername: the hand-written check accepts exactly what the
// documented regexp does.
func TestValidUsername(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)
	names := []string{"", "a", "admin", "Z9", "0", "a.b_c@d+e-f", ".a", "_a", "@a", "+a", "-a", "a b", "a\n", "a\x00",
		"é", "aé", "a/b", "a:b", "A" + strings.Repeat("b", 63), "A" + strings.Repeat("b", 64), strings.Repeat("-", 5), "a" + strings.Repeat("-", 63)}
	for c := 0; c < 256; c++ {
		names = append(names, string(rune(c)), "a"+string([]byte{byte(c)}), string([]byte{byte(c)}))
	}
	for _, n := range names {
		if got, want := validUsername(n), re.MatchString(n); got != want {
			t.Errorf("validUsername(%q) = %v, the regexp says %v", n, got, want)
		}
	}
}

func FuzzValidUsername(f *testing.F) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)
	for _, s := range []string{"admin", "a.b", "-a", "", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, n string) {
		if got, want := validUsername(n), re.MatchString(n); got != want {
			t.Fatalf("validUsername(%q) = %v, the regexp says %v", n, got, want)
		}
	})
}
