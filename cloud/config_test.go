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
	noEdge := ok
	noEdge.EdgeListen = ""
	if err := noEdge.Validate(); err != nil {
		t.Fatalf("config without edge listener: %v", err)
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
		{"bad edge listen", func(c *Config) { c.EdgeListen = "8444" }, "tunnel edge listen address"},
		{"edge on cloud port", func(c *Config) { c.EdgeListen = c.Listen }, "another port"},
		{"bad public url", func(c *Config) { c.PublicURL = "http://cloud.example" }, "public URL"},
		{"no edge domain", func(c *Config) { c.EdgeDomain = "" }, "--edge-domain"},
		{"upper edge domain", func(c *Config) { c.EdgeDomain = "Edge.Localhost" }, "lower case"},
		{"ip edge domain", func(c *Config) { c.EdgeDomain = "127.0.0.1" }, "IP address"},
		{"wildcard edge domain", func(c *Config) { c.EdgeDomain = "*.edge.localhost" }, "wildcard"},
		{"bad edge domain", func(c *Config) { c.EdgeDomain = "edge_x.localhost" }, "not a valid DNS name"},
		{"long edge domain", func(c *Config) { c.EdgeDomain = strings.Repeat("a.", 100) + "localhost" }, "longer than"},
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
