package cloud

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.DataDir = "/tmp/x"
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no data dir", func(c *Config) { c.DataDir = "" }, "--data"},
		{"bad listen", func(c *Config) { c.Listen = "8443" }, "HOST:PORT"},
		{"bad host", func(c *Config) { c.Hostnames = []string{"a b"} }, "a b"},
		{"zero ttl", func(c *Config) { c.AccessTokenTTL = 0 }, "access token lifetime"},
		{"access longer than refresh", func(c *Config) { c.AccessTokenTTL = 40 * 24 * time.Hour }, "must not exceed"},
		{"bcrypt", func(c *Config) { c.BcryptCost = 99 }, "bcrypt"},
		{"no clock", func(c *Config) { c.Clock = nil }, "clock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
