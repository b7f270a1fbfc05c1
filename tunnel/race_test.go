//go:build race

package tunnel

// raceEnabled: the race detector slows the byte-moving tests about tenfold.
const raceEnabled = true
