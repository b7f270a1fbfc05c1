// Package all lists every host platform adapter, for `platform: auto`
// (platforms.Open runs each one's detection) and `platform: TYPE`.
package all

import (
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/generic"
)

// Adapters are every adapter; generic (configured only) is first.
func Adapters() []platforms.Adapter {
	return []platforms.Adapter{generic.Adapter{}}
}
