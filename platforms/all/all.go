// Package all lists every host platform adapter, for `platform: auto`
// (platforms.Open runs each one's detection) and `platform: TYPE`.
package all

import (
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/generic"
	"github.com/cloudlink/cld/platforms/micc"
	"github.com/cloudlink/cld/platforms/msl"
	"github.com/cloudlink/cld/platforms/mv5000"
	"github.com/cloudlink/cld/platforms/mxone"
	"github.com/cloudlink/cld/platforms/openscape"
	"github.com/cloudlink/cld/platforms/sipdect"
	"github.com/cloudlink/cld/platforms/smbc"
)

// Adapters are every adapter; generic (configured only) is first.
func Adapters() []platforms.Adapter { return For(openscape.Instance{}) }

// For is Adapters for the daemon self (its name and state directory),
// which the OpenScape Voice adapter needs to tell its own registration of
// the node from another daemon's.
func For(self openscape.Instance) []platforms.Adapter {
	as := []platforms.Adapter{generic.Adapter{}}
	as = append(as, msl.Adapters()...)
	as = append(as, smbc.Adapters()...)
	as = append(as, openscape.AdaptersFor(self)...)
	as = append(as, mxone.Adapters()...)
	as = append(as, sipdect.Adapters()...)
	as = append(as, micc.Adapters()...)
	as = append(as, mv5000.Adapters()...)
	return as
}
