package api

import "testing"

func TestSignedSeconds(t *testing.T) {
	for in, want := range map[float64]string{0: "0.000", -0.0004: "0.000", 0.0004: "0.000", -0.0006: "-0.001", 1.25: "+1.250", -44: "-44.000"} {
		if got := SignedSeconds(in); got != want {
			t.Errorf("SignedSeconds(%v) = %q, want %q", in, got, want)
		}
	}
}
