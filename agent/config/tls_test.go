package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestNoSwitchTurnsCloudTLSOff: the configuration has no setting that
// turns the verification of the cloud's (or the edge's, or a proxy's)
// certificate off — no field of Config, at any depth, is named like one —
// and the keys people try for it are refused as unknown, naming the key,
// instead of being ignored. The only way to trust another certificate is
// cloud_ca (a CA file), which still checks the name.
func TestNoSwitchTurnsCloudTLSOff(t *testing.T) {
	var walk func(t reflect.Type, path string)
	seen := 0
	visited := map[reflect.Type]bool{}
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		// The configuration's own types only (not time.Location's or a
		// logger's insides), each once.
		if typ.Kind() != reflect.Struct || visited[typ] || !strings.HasPrefix(typ.PkgPath(), "github.com/cloudlink/cld/") {
			return
		}
		visited[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name := strings.ToLower(f.Name + " " + f.Tag.Get("yaml"))
			seen++
			for _, bad := range []string{"insecure", "skipverify", "skip_verify", "noverify", "no_verify", "tls_verify", "verify_tls"} {
				if strings.Contains(name, bad) {
					t.Errorf("Config%s.%s (%q) looks like a switch that turns TLS verification off", path, f.Name, f.Tag.Get("yaml"))
				}
			}
			walk(f.Type, path+"."+f.Name)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	if seen < 10 {
		t.Fatalf("only %d fields walked", seen)
	}
	for _, key := range []string{"insecure_skip_verify: true", "tls_verify: false", "cloud_insecure: true", "verify_tls: false"} {
		cfg := DefaultConfig()
		err := ParseConfig([]byte("cloud: https://cloud.example\n"+key+"\n"), "cld.yaml", &cfg)
		k, _, _ := strings.Cut(key, ":")
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%q: %v, want an error naming the unknown key", key, err)
		}
	}
}
