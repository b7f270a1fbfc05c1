package cloudapi

import (
	"strings"
	"testing"
)

func validUser() DirectoryUser {
	return DirectoryUser{Email: "Anna.Berg@Example.com", Extension: "2001", FirstName: "Anna", LastName: "Berg",
		Services: []string{ServiceZoomClient}, Role: "user"}
}

func validDevice() DirectoryDevice {
	return DirectoryDevice{ID: "SEP001122334455", Extension: "2001", Type: "sip", Name: "Reception phone", Owner: "Anna.Berg@Example.com"}
}

func TestDirectoryUserValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(*DirectoryUser)
		want []string // substrings of the error; none: valid
	}{
		{"valid", func(*DirectoryUser) {}, nil},
		{"only a first name", func(u *DirectoryUser) { u.LastName = "" }, nil},
		{"only a last name", func(u *DirectoryUser) { u.FirstName = "" }, nil},
		{"no services or role", func(u *DirectoryUser) { u.Services, u.Role = nil, "" }, nil},
		{"padded fields", func(u *DirectoryUser) { u.Email, u.Extension, u.FirstName = " anna@example.com ", " 2001 ", " Anna " }, nil},
		{"extension with * # and a leading +", func(u *DirectoryUser) { u.Extension = "+49*12#3" }, nil},
		{"unicode name", func(u *DirectoryUser) { u.FirstName, u.LastName = "Åsa", "Öberg-Ñúñez" }, nil},
		{"missing email", func(u *DirectoryUser) { u.Email = "" }, []string{"email is needed"}},
		{"blank email", func(u *DirectoryUser) { u.Email = "   " }, []string{"email is needed"}},
		{"missing extension", func(u *DirectoryUser) { u.Extension = "" }, []string{"extension is needed"}},
		{"missing both names", func(u *DirectoryUser) { u.FirstName, u.LastName = " ", "" }, []string{"first_name or last_name is needed"}},
		{"email without @", func(u *DirectoryUser) { u.Email = "anna.example.com" }, []string{"not an e-mail address"}},
		{"email without a domain dot", func(u *DirectoryUser) { u.Email = "anna@localhost" }, []string{"not an e-mail address"}},
		{"email with a display name", func(u *DirectoryUser) { u.Email = "Anna <anna@example.com>" }, []string{"not an e-mail address"}},
		{"two emails", func(u *DirectoryUser) { u.Email = "a@example.com, b@example.com" }, []string{"not an e-mail address"}},
		{"email too long", func(u *DirectoryUser) { u.Email = strings.Repeat("a", 250) + "@example.com" }, []string{"email is 262 bytes long"}},
		{"email longer in lower case", func(u *DirectoryUser) { u.Email = strings.Repeat("\u023a", 100) + "@example.com" },
			[]string{"email is 312 bytes long in lower case"}},
		{"extension with letters", func(u *DirectoryUser) { u.Extension = "20a1" }, []string{"may hold only digits"}},
		{"extension with an inner +", func(u *DirectoryUser) { u.Extension = "20+1" }, []string{"may hold only digits"}},
		{"extension with a space", func(u *DirectoryUser) { u.Extension = "20 01" }, []string{"may hold only digits"}},
		{"extension too long", func(u *DirectoryUser) { u.Extension = strings.Repeat("1", 21) }, []string{"longer than 20"}},
		{"name with a control character", func(u *DirectoryUser) { u.FirstName = "An\nna" }, []string{"first_name holds a control character"}},
		{"name not UTF-8", func(u *DirectoryUser) { u.LastName = "B\xffrg" }, []string{"last_name is not valid UTF-8"}},
		{"name too long", func(u *DirectoryUser) { u.LastName = strings.Repeat("x", 129) }, []string{"last_name is 129 bytes long"}},
		{"bad service", func(u *DirectoryUser) { u.Services = []string{"ZOOM Client"} }, []string{`service "ZOOM Client" is not a service name`}},
		{"empty service", func(u *DirectoryUser) { u.Services = []string{""} }, []string{`service "" is not`}},
		{"duplicate service", func(u *DirectoryUser) { u.Services = []string{"zoom-client", "voicemail", "zoom-client"} },
			[]string{`service "zoom-client" is listed twice`}},
		{"too many services", func(u *DirectoryUser) {
			u.Services = nil
			for i := range 17 {
				u.Services = append(u.Services, "s"+strings.Repeat("x", i))
			}
		}, []string{"services has 17 entries; at most 16"}},
		{"bad role", func(u *DirectoryUser) { u.Role = "Admin" }, []string{`role "Admin" is not a role name`}},
		{"every problem at once", func(u *DirectoryUser) { *u = DirectoryUser{Email: "x", Extension: "y", Role: "-"} },
			[]string{"not an e-mail address", "may hold only digits", "first_name or last_name is needed", `role "-"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := validUser()
			tc.mut(&u)
			err := u.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", u, err)
				}
				if err := u.Normalize().Validate(); err != nil {
					t.Fatalf("normalized: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want %q", u, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDirectoryUserNormalize(t *testing.T) {
	u := DirectoryUser{Email: "  Anna.Berg@Example.COM ", Extension: " 2001\t", FirstName: " Anna ", LastName: "Berg  ",
		Services: []string{}, Role: "admin"}
	got := u.Normalize()
	want := DirectoryUser{Email: "anna.berg@example.com", Extension: "2001", FirstName: "Anna", LastName: "Berg", Role: "admin"}
	if got.Email != want.Email || got.Extension != want.Extension || got.FirstName != want.FirstName ||
		got.LastName != want.LastName || got.Services != nil || got.Role != want.Role {
		t.Fatalf("Normalize = %+v, want %+v", got, want)
	}
	if u.Email != "  Anna.Berg@Example.COM " {
		t.Error("Normalize changed its receiver")
	}
	if again := got.Normalize(); again.Email != got.Email || again.FirstName != got.FirstName {
		t.Errorf("Normalize is not idempotent: %+v", again)
	}
	if k := UserKey(" A@B.example "); k != "a@b.example" {
		t.Errorf("UserKey = %q", k)
	}
}

func TestDirectoryDeviceValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(*DirectoryDevice)
		want []string
	}{
		{"valid", func(*DirectoryDevice) {}, nil},
		{"only id and extension", func(d *DirectoryDevice) { *d = DirectoryDevice{ID: "dect-7", Extension: "7"} }, nil},
		{"padded id", func(d *DirectoryDevice) { d.ID = " dect-7 " }, nil},
		{"id of 64 bytes", func(d *DirectoryDevice) { d.ID = strings.Repeat("d", 64) }, nil},
		{"id with punctuation", func(d *DirectoryDevice) { d.ID = "ipei:00077-1234567@pbx.example" }, nil},
		{"missing id", func(d *DirectoryDevice) { d.ID = "" }, []string{"id is needed"}},
		{"id too long", func(d *DirectoryDevice) { d.ID = strings.Repeat("d", 65) }, []string{"id is 65 bytes long"}},
		{"id with a space", func(d *DirectoryDevice) { d.ID = "desk phone" }, []string{"no spaces, slashes"}},
		{"id with a slash", func(d *DirectoryDevice) { d.ID = "a/b" }, []string{"no spaces, slashes"}},
		{"id with a backslash", func(d *DirectoryDevice) { d.ID = `a\b` }, []string{"no spaces, slashes"}},
		{"id with a tab", func(d *DirectoryDevice) { d.ID = "a\tb" }, []string{"no spaces, slashes"}},
		{"id with DEL", func(d *DirectoryDevice) { d.ID = "a\x7fb" }, []string{"no spaces, slashes"}},
		{"id with a no-break space", func(d *DirectoryDevice) { d.ID = "a\u00a0b" }, []string{"no spaces, slashes"}},
		{"id with a C1 control", func(d *DirectoryDevice) { d.ID = "a\u0085b" }, []string{"no spaces, slashes"}},
		{"id with a line separator", func(d *DirectoryDevice) { d.ID = "a\u2028b" }, []string{"no spaces, slashes"}},
		{"id not UTF-8", func(d *DirectoryDevice) { d.ID = "a\xffb" }, []string{"no spaces, slashes"}},
		{"missing extension", func(d *DirectoryDevice) { d.Extension = " " }, []string{"extension is needed"}},
		{"bad extension", func(d *DirectoryDevice) { d.Extension = "ext-1" }, []string{"may hold only digits"}},
		{"bad type", func(d *DirectoryDevice) { d.Type = "SIP" }, []string{`type "SIP" is not a device type`}},
		{"name with a control character", func(d *DirectoryDevice) { d.Name = "a\x00" }, []string{"name holds a control character"}},
		{"bad owner", func(d *DirectoryDevice) { d.Owner = "nobody" }, []string{"owner: email \"nobody\" is not an e-mail address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := validDevice()
			tc.mut(&d)
			err := d.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", d, err)
				}
				if err := d.Normalize().Validate(); err != nil {
					t.Fatalf("normalized: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want %q", d, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDirectoryDeviceNormalize(t *testing.T) {
	d := DirectoryDevice{ID: " SEP0011 ", Extension: " 2001 ", Type: "sip", Name: " Desk ", Owner: " Anna@Example.com "}
	got := d.Normalize()
	if got != (DirectoryDevice{ID: "SEP0011", Extension: "2001", Type: "sip", Name: "Desk", Owner: "anna@example.com"}) {
		t.Fatalf("Normalize = %+v", got)
	}
	if got.Normalize() != got {
		t.Error("Normalize is not idempotent")
	}
}

// FuzzDirectoryUserValidate: Validate and Normalize never panic, and a user
// that validates still validates once normalized (the cloud stores the
// normalized user), with Normalize idempotent. The same for a device built
// from the same strings.
func FuzzDirectoryUserValidate(f *testing.F) {
	u := validUser()
	f.Add(u.Email, u.Extension, u.FirstName, u.LastName, "zoom-client,voicemail", u.Role)
	f.Add(" Anna@EXAMPLE.com ", " +49*1# ", "", " Berg ", "", "")
	f.Add("\"a b\"@example.com", "1", "x", "", "zoom-client,zoom-client", "admin")
	f.Add("İ@example.com", "2", "\u00a0", "y", ",", "Admin")
	f.Add("a@b.c", "", "", "", "", "")
	f.Add(strings.Repeat("\u023a", 100)+"@"+strings.Repeat("a", 40)+".com", "3", "z", "", "", "")
	f.Fuzz(func(t *testing.T, email, ext, first, last, services, role string) {
		var svcs []string
		if services != "" {
			svcs = strings.Split(services, ",")
		}
		u := DirectoryUser{Email: email, Extension: ext, FirstName: first, LastName: last, Services: svcs, Role: role}
		if err := u.Validate(); err == nil {
			n := u.Normalize()
			if err := n.Validate(); err != nil {
				t.Fatalf("Validate(%+v) = nil but Validate(Normalize) = %v", u, err)
			}
			if n.Email != UserKey(n.Email) {
				t.Fatalf("normalized e-mail %q is not its own key", n.Email)
			}
			if nn := n.Normalize(); nn.Email != n.Email || nn.Extension != n.Extension || nn.FirstName != n.FirstName || nn.LastName != n.LastName {
				t.Fatalf("Normalize is not idempotent: %+v then %+v", n, nn)
			}
		}
		d := DirectoryDevice{ID: first, Extension: ext, Type: role, Name: last, Owner: email}
		if err := d.Validate(); err == nil {
			n := d.Normalize()
			if err := n.Validate(); err != nil {
				t.Fatalf("Validate(%+v) = nil but Validate(Normalize) = %v", d, err)
			}
			if n.Normalize() != n {
				t.Fatalf("device Normalize is not idempotent: %+v", n)
			}
		}
	})
}
