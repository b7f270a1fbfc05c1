package lockout

import "testing"

func TestClientKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"192.0.2.1:4321", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1", "192.0.2.1"},
		{"[2001:db8:1:2:3::4]:80", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:22", "fe80::/64"},
		{"host.example:80", "host.example"},
		{"@", "@"},
	} {
		if got := ClientKey(c.in); got != c.want {
			t.Errorf("ClientKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
