package openscape

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cloudlink/cld/atomicfile"
	"github.com/cloudlink/cld/platforms"
)

// Voice is the OpenScape Voice adapter (V10R3 FR33 HF3 and later). It
// reads the node it runs on (one node of a duplex cluster, or a simplex
// one) and the node's CloudLink registration: a node supports a
// connection to only one CloudLink CMP, so a registration held by another
// cld instance makes this daemon a second one, refused (see the package
// doc).
type Voice struct {
	Options
	// Self is this daemon (zero: cld with the state directory
	// /var/lib/cld).
	Self Instance
}

// Instance names one cld daemon on a host: by its state directory, which
// no two daemons share, and the name of its service.
type Instance struct {
	Name     string // e.g. cld, cld-cmp2; "" is the state directory's base name
	StateDir string // "" is /var/lib/cld
}

// DefaultStateDir is the state directory of a daemon whose Instance does
// not give one (the config's default state_dir).
const DefaultStateDir = "/var/lib/cld"

func (i Instance) normalized() Instance {
	if i.StateDir == "" {
		i.StateDir = DefaultStateDir
	}
	i.StateDir = path.Clean(i.StateDir)
	if i.Name == "" {
		i.Name = path.Base(i.StateDir)
	}
	return i
}

// same reports whether a registration's owner o is instance i: the same
// state directory, or, when o names none, the same name.
func (i Instance) same(o Instance) bool {
	if o.StateDir != "" {
		return path.Clean(o.StateDir) == i.StateDir
	}
	return o.Name == i.Name
}

func (i Instance) String() string {
	if i.StateDir == "" {
		return fmt.Sprintf("%q", i.Name)
	}
	return fmt.Sprintf("%q (state directory %s)", i.Name, i.StateDir)
}

// Node is an OpenScape Voice node as its node.cfg describes it.
type Node struct {
	ID          int    // 1 or 2 in a duplex cluster
	Name        string // e.g. osv1
	Cluster     string // the cluster's name
	Type        string // duplex or simplex
	PartnerID   int    // the other node of a duplex pair (0: none)
	PartnerName string
}

func (n *Node) String() string {
	if n == nil || n.Name == "" && n.ID == 0 {
		return "this node"
	}
	s := n.Name
	if s == "" {
		s = "node " + strconv.Itoa(n.ID)
	}
	var of string
	if n.ID != 0 && n.Name != "" {
		of = "node " + strconv.Itoa(n.ID)
	}
	if n.Cluster != "" || n.Type != "" {
		of = strings.Join(strings.Fields(of+" of the "+n.Type+" cluster "+n.Cluster), " ")
	}
	if n.PartnerName != "" {
		of = strings.TrimPrefix(of+", partner "+n.PartnerName, ", ")
	}
	if of != "" {
		s += " (" + of + ")"
	}
	return s
}

// Registration is the content of a node's CloudLink registration marker.
type Registration struct {
	Owner Instance
	Node  string    // the node's name when it was written
	CMP   string    // the CloudLink CMP the owner connects the node to
	Since time.Time // when the owner registered
}

var voice = &product{
	typ: TypeVoice, name: "OpenScape Voice",
	min: "V10R3 FR33 HF3", needed: "OpenScape Voice V10R3 FR33 HF3 or later",
	places: []place{
		{"version", "/opt/unisphere/srx3000/etc/osv-release", "the release: PRODUCT, VERSION, BUILD"},
		{"os_release", "/etc/os-release", "the operating system (PRETTY_NAME)"},
		{"node", "/etc/hiq8000/node.cfg", "the node: NODE_ID, NODE_NAME, CLUSTER_NAME, CLUSTER_TYPE, PARTNER_NODE_ID, PARTNER_NODE_NAME"},
		{"components", "/opt/unisphere/srx3000/etc/components.list", "the installed components, one \"name version\" a line"},
		{"license", "/opt/unisphere/srx3000/etc/license.conf", "the licence: TYPE, EXPIRES, SWA_STATUS, SWA_EXPIRY"},
		{"language", "/etc/sysconfig/language", "the system language: RC_LANG"},
		{"proxy", "/etc/sysconfig/proxy", "SLES's proxy: PROXY_ENABLED, HTTPS_PROXY, HTTP_PROXY"},
		{"registration", "/opt/unisphere/srx3000/cloudlink/registration", "the node's CloudLink registration: INSTANCE, STATE_DIR, NODE_NAME, CMP, SINCE"},
	},
	productKey: "PRODUCT", versionKey: "VERSION", buildKey: "BUILD", match: "OpenScape Voice",
	tunnels: []platforms.Tunnel{{
		ID: "osv-assistant", Component: "OpenScape Voice", Name: "OpenScape Voice Assistant (CMP)",
		Description:  "Remote access via Mitel Administration to the node's Common Management Portal and Assistant",
		LocalAddress: "https://127.0.0.1:443", AcceptSelfSigned: true,
	}, {
		ID: "osv-soap", Component: "OpenScape Voice", Name: "Provisioning interface (SOAP/XML)",
		Description:  "Provisioning access via Mitel Administration to the node's SOAP/XML interface",
		LocalAddress: "https://127.0.0.1:8767", AcceptSelfSigned: true,
	}},
	embedding: platforms.Embedding{Auth: platforms.AuthLocal},
	language:  languageKey("language", "RC_LANG"),
	proxy:     sysconfigProxy("proxy"),
}

// Type implements platforms.Adapter.
func (Voice) Type() string { return TypeVoice }

// Detect implements platforms.Adapter.
func (a Voice) Detect(root string) (platforms.Platform, error) {
	return asPlatform(detect(voice, root, a.Options, a.node(a.Self.normalized())))
}

// Configure implements platforms.Adapter. Beyond the common keys, the
// section takes instance and state_dir: this daemon's name and state
// directory (by default its service's name and /var/lib/cld).
func (a Voice) Configure(cfg platforms.Config) (platforms.Platform, error) {
	sec, err := parseSection(voice, cfg,
		extraKey{"instance", func(s string) error {
			if !platforms.ValidSlug(s) {
				return fmt.Errorf("%q is not an instance name such as cld or cld-cmp2", s)
			}
			return nil
		}},
		extraKey{"state_dir", checkHostPath})
	if err != nil {
		return nil, err
	}
	self := a.Self
	if v, ok := sec.extra["instance"]; ok {
		self.Name = v
	}
	if v, ok := sec.extra["state_dir"]; ok {
		self.StateDir = v
	}
	o := sec.merged(cfg, a.Options)
	return configure(voice, cfg, o, Voice{Options: o}.node(self.normalized()))
}

// node reads the node and its registration: held by another instance
// than self, the platform gets the osv-second-daemon notice and no
// tunnels.
func (a Voice) node(self Instance) func(*host, *Platform) error {
	return func(h *host, p *Platform) error {
		kv, err := h.optionalKV("node")
		if err != nil {
			return fmt.Errorf("%s: %w", voice.name, err)
		}
		n := &Node{
			Name: kv["NODE_NAME"], Cluster: kv["CLUSTER_NAME"], Type: strings.ToLower(kv["CLUSTER_TYPE"]),
			PartnerName: kv["PARTNER_NODE_NAME"],
		}
		n.ID, _ = strconv.Atoi(kv["NODE_ID"])
		n.PartnerID, _ = strconv.Atoi(kv["PARTNER_NODE_ID"])
		if *n != (Node{}) {
			p.node = n
		}
		claimer := Voice{Options: a.Options, Self: self}
		root := h.root
		p.register = func(cmp string, now time.Time) error { return claimer.Claim(root, cmp, now) }
		p.unregister = func() error { return claimer.Release(root) }
		reg, err := readRegistration(h)
		if err != nil || reg == nil {
			return err
		}
		if self.same(reg.Owner) {
			return nil
		}
		cmp := ""
		if reg.CMP != "" {
			cmp = " to the CloudLink CMP " + reg.CMP
		}
		p.notices = append(p.notices, platforms.Notice{
			Code: "osv-second-daemon",
			Text: fmt.Sprintf("OpenScape Voice node %s is already connected%s by the cld instance %v, as %s says; this daemon, %v, is a second one for the same node: it offers no tunnels and must not be linked.",
				p.node, cmp, reg.Owner, h.path("registration"), self),
			Remedy: fmt.Sprintf("An OpenScape Voice node supports a connection to only one CloudLink CMP: connecting multiple CMPs to the same node isn't supported and can cause connection failures. Stop and disable this daemon; to move the node to it instead, unlink %s (or, if that instance was removed, delete %s) and restart this daemon.",
				reg.Owner.Name, h.path("registration")),
		})
		p.tunnels = nil
		return nil
	}
}

// readRegistration reads the node's marker (nil when there is none, or
// when it names no instance).
func readRegistration(h *host) (*Registration, error) {
	kv, err := h.kv("registration")
	if errors.Is(err, platforms.ErrNotDetected) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", voice.name, err)
	}
	r := &Registration{Owner: Instance{Name: kv["INSTANCE"], StateDir: kv["STATE_DIR"]}, Node: kv["NODE_NAME"], CMP: kv["CMP"]}
	if r.Owner.Name == "" && r.Owner.StateDir == "" {
		return nil, nil
	}
	r.Since, _ = time.Parse(time.RFC3339, kv["SINCE"])
	return r, nil
}

// Claim registers the node under root for this daemon (a.Self) when it
// links to the CloudLink CMP cmp: it writes the registration marker, or
// fails naming the instance that holds it already.
func (a Voice) Claim(root, cmp string, now time.Time) error {
	if err := checkOptions(voice, a.Options); err != nil {
		return err
	}
	self := a.Self.normalized()
	h := newHost(voice, root, a.Files)
	reg, err := readRegistration(h)
	if err != nil {
		return err
	}
	if reg != nil && !self.same(reg.Owner) {
		return fmt.Errorf("OpenScape Voice: this node is registered with CloudLink by the cld instance %v (%s); a node supports a connection to only one CloudLink CMP", reg.Owner, h.path("registration"))
	}
	node, _ := h.optionalKV("node")
	var b strings.Builder
	b.WriteString("# CloudLink registration of this OpenScape Voice node: the one cld daemon\n# that connects it to CloudLink. Written by cld; removed when it unlinks.\n")
	for _, kv := range [][2]string{{"INSTANCE", self.Name}, {"STATE_DIR", self.StateDir}, {"NODE_NAME", node["NODE_NAME"]}, {"CMP", cmp}, {"SINCE", now.UTC().Format(time.RFC3339)}} {
		fmt.Fprintf(&b, "%s=\"%s\"\n", kv[0], kv[1])
	}
	file := filepath.Join(root, filepath.FromSlash(h.path("registration")))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("OpenScape Voice: %w", err)
	}
	return atomicfile.Write(file, []byte(b.String()), 0o644)
}

// Release removes the node's registration marker under root when this
// daemon holds it (when it unlinks); one held by another is left alone.
func (a Voice) Release(root string) error {
	if err := checkOptions(voice, a.Options); err != nil {
		return err
	}
	h := newHost(voice, root, a.Files)
	reg, err := readRegistration(h)
	if err != nil || reg == nil || !a.Self.normalized().same(reg.Owner) {
		return err
	}
	err = os.Remove(filepath.Join(root, filepath.FromSlash(h.path("registration"))))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
