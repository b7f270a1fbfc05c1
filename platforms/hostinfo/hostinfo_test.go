package hostinfo

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/platforms"
)

func TestReaders(t *testing.T) {
	for in, want := range map[string]string{"de": "de", "de_DE": "de-DE", "en_US.UTF-8": "en-US", "FR-ca": "fr-CA", "zh_Hant_TW": "zh-hant-TW", "": "", "x": "", "en US": ""} {
		if got := LanguageTag(in); got != want {
			t.Errorf("LanguageTag(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"proxy:3128": "http://proxy:3128", "https://p.example.com": "https://p.example.com:443", "http://[::1]:8080/": "http://[::1]:8080"} {
		if got, _, ok := ProxyURL(in); got != want || !ok {
			t.Errorf("ProxyURL(%q) = %q %v", in, got, ok)
		}
	}
	for _, in := range []string{"socks5://p:1", "http://p:99999", "http://p:1/path"} {
		if _, _, ok := ProxyURL(in); ok {
			t.Errorf("ProxyURL(%q) accepted", in)
		}
	}
	for in, want := range map[string]string{`C:\ProgramData\x`: "/ProgramData/x", "/etc//x": "/etc/x"} {
		if got, err := HostPath(in); got != want || err != nil {
			t.Errorf("HostPath(%q) = %q %v", in, got, err)
		}
	}
}

func TestSWAStatusAndDate(t *testing.T) {
	exp, err := Date("2026-03-31")
	if err != nil || !exp.Equal(time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("Date = %v %v", exp, err)
	}
	if _, err := Date("31/03/2026"); err == nil {
		t.Error("Date accepted 31/03/2026")
	}
	for _, tc := range []struct {
		stated string
		now    time.Time
		want   string
		ok     bool
	}{
		{"active", time.Time{}, platforms.SWAActive, true},
		{"", time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC), platforms.SWAActive, true},
		{"", time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), platforms.SWAExpired, true},
		{"lapsed", time.Time{}, "", false},
	} {
		if got, ok := SWAStatus(tc.stated, exp, tc.now); got != tc.want || ok != tc.ok {
			t.Errorf("SWAStatus(%q, %v) = %q %v, want %q %v", tc.stated, tc.now, got, ok, tc.want, tc.ok)
		}
	}
	if n, err := PortSetting("", 443, "PORT", "f"); n != 443 || err != nil {
		t.Errorf("PortSetting empty = %d %v", n, err)
	}
	if _, err := PortSetting("70000", 443, "PORT", "f"); err == nil || !strings.Contains(err.Error(), "between 1 and 65535") {
		t.Errorf("PortSetting 70000: %v", err)
	}
}
