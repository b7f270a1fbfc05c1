package state

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"
)

func FuzzParseState(f *testing.F) {
	good, _ := json.Marshal(&State{Format: 1, InstallationID: uuid.NewString(), Link: &Link{SystemID: "s", ClientID: "c", ClientSecret: "x", Cloud: "https://c", InstallationID: "i"}})
	f.Add(good)
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`{"format":2,"installation_id":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err == nil && p == nil {
			t.Fatal("nil state without error")
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNewer) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
