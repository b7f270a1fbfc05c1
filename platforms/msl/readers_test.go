package msl

import (
	"strings"
	"testing"
)

func TestParsePackages(t *testing.T) {
	pkgs := ParsePackages(`# comment
mitel-mbg-11.5.0.227-1.el7.x86_64
mitel-mivb-svi-1.0.0.31-1.el8.noarch
cld-1:1.8.34-97
 kernel-3.10.0-1160.el7.x86_64 
not a package line
nodash
name-only-
-1.0-1
gpg-pubkey-f4a80eb5-53a7ff4b
mitel-mbg-11.5.0.230-2.el7.x86_64
`)
	for name, want := range map[string]Package{
		"mitel-mbg":      {Name: "mitel-mbg", Version: "11.5.0.230", Release: "2.el7", Arch: "x86_64"},
		"mitel-mivb-svi": {Name: "mitel-mivb-svi", Version: "1.0.0.31", Release: "1.el8", Arch: "noarch"},
		"cld":            {Name: "cld", Version: "1.8.34", Release: "97"},
		"kernel":         {Name: "kernel", Version: "3.10.0", Release: "1160.el7", Arch: "x86_64"},
	} {
		if got := pkgs[name]; got != want {
			t.Errorf("%s = %+v, want %+v", name, got, want)
		}
	}
	if len(pkgs) != 4 {
		t.Errorf("packages = %v", pkgs)
	}
}

func TestParseDB(t *testing.T) {
	db := ParseDB(`# DO NOT MODIFY THIS FILE.
SystemName=mcd56
UpstreamProxy=configuration|Host|proxy.example.com|Port|3128|Password|s3cr\|et\\|status
=broken
no equals sign
ServerManager=configuration|Language|de_DE
ServerManager=configuration|Language|fr_FR
`)
	if db["SystemName"].Type != "mcd56" || len(db["SystemName"].Props) != 0 {
		t.Errorf("SystemName = %+v", db["SystemName"])
	}
	px := db["UpstreamProxy"]
	if px.Prop("Host") != "proxy.example.com" || px.Prop("Port") != "3128" || px.Prop("Password") != `s3cr|et\` || px.Prop("status") != "" {
		t.Errorf("UpstreamProxy = %+v", px)
	}
	if db["ServerManager"].Prop("Language") != "fr_FR" || len(db) != 3 {
		t.Errorf("db = %v", db)
	}
	if db["missing"].Prop("x") != "" {
		t.Error("a missing record has a property")
	}
}

func TestLanguageTag(t *testing.T) {
	for in, want := range map[string]string{
		"de_DE": "de-DE", "en-us": "en-US", "fr_CA.UTF-8": "fr-CA", "fr": "fr", "zh_hant_tw": "zh-Hant-TW",
		"es_419": "es-419", "sr_RS@latin": "sr-RS", "C": "", "POSIX": "", "": "", "english": "", "d": "", "de_DEUTSCHLAND": "", "1_2": "",
	} {
		if got := LanguageTag(in); got != want {
			t.Errorf("LanguageTag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProxyURL(t *testing.T) {
	for _, tc := range []struct{ host, port, want string }{
		{"proxy.example.com", "3128", "http://proxy.example.com:3128"},
		{"http://10.20.0.5", "8080", "http://10.20.0.5:8080"},
		{"http://user:pw@proxy:8000/path", "3128", "http://proxy:8000"},
		{"https://proxy", "", "https://proxy:443"},
		{"proxy", "", "http://proxy:80"},
		{"[fd00::1]:3128", "", "http://[fd00::1]:3128"},
		{"", "3128", ""},
		{"socks5://proxy", "1080", ""},
		{"proxy", "31x8", ""},
	} {
		if got := ProxyURL(tc.host, tc.port); got != tc.want {
			t.Errorf("ProxyURL(%q, %q) = %q, want %q", tc.host, tc.port, got, tc.want)
		}
	}
}

func TestParseRelease(t *testing.T) {
	for in, want := range map[string]string{
		"Mitel Standard Linux release 11.0 (110)":             "11.0.110",
		"Mitel Standard Linux release 12.1.45.0":              "12.1.45.0",
		"Mitel Standard Linux release 12.1.45 (7)":            "12.1.45",
		"Mitel Standard Linux release 10.6\nsecond line 12.1": "10.6",
		"Mitel Standard Linux":                                "",
	} {
		if got, ok := ParseRelease(in); !ok || got != want {
			t.Errorf("ParseRelease(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := ParseRelease("SME Server release 9.2"); ok {
		t.Error("SME Server read as MSL")
	}
}

func FuzzParsePackages(f *testing.F) {
	f.Add("mitel-mbg-11.5.0.227-1.el7.x86_64\ncld-1:1.8-1\n")
	f.Fuzz(func(t *testing.T, s string) {
		for name, p := range ParsePackages(s) {
			if name != p.Name || p.Name == "" || p.Version == "" || p.Release == "" || strings.ContainsAny(p.Name+p.Version, " \t\n") {
				t.Fatalf("%q: %+v", s, p)
			}
		}
	})
}

func FuzzParseDB(f *testing.F) {
	f.Add("a=configuration|Host|x\\|y|Port|1\n# c\n")
	f.Fuzz(func(t *testing.T, s string) {
		for k, r := range ParseDB(s) {
			if k == "" || r == nil || r.Props == nil {
				t.Fatalf("%q: %q %+v", s, k, r)
			}
		}
	})
}

func FuzzLanguageTag(f *testing.F) {
	f.Add("de_DE.UTF-8")
	f.Fuzz(func(t *testing.T, s string) {
		tag := LanguageTag(s)
		if tag != "" && LanguageTag(tag) != tag {
			t.Fatalf("%q → %q is not stable", s, tag)
		}
	})
}
