//go:build race

package cloud

// raceEnabled: the race detector slows byte copying about tenfold.
const raceEnabled = true
