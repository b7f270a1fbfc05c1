package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

const minimal = `{"schema_version":1,"id":"r1","system_id":"s1","generated_at":"2026-11-22T08:00:00Z","trigger":"start","collection":[]}`

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		limit    int64
		is       error
		want     string // in the error; "" = accepted
	}{
		{"minimal", minimal, 0, nil, ""},
		{"unknown fields are accepted", `{"schema_version":1,"id":"r1","system_id":"s1","generated_at":"2026-11-22T08:00:00Z","future":{"x":1},"host":{"hostname":"h","new":true}}`, 0, nil, ""},
		{"trailing whitespace", minimal + "\n \n", 0, nil, ""},
		{"newer version", strings.Replace(minimal, `"schema_version":1`, `"schema_version":2`, 1), 0, ErrNewerVersion, "schema_version 2 is newer than this reader's 1"},
		{"newer version with other types", `{"schema_version":3,"id":7,"host":"x"}`, 0, ErrNewerVersion, "newer"},
		{"zero version", strings.Replace(minimal, `"schema_version":1`, `"schema_version":0`, 1), 0, ErrInvalid, "schema_version 0 is not a version"},
		{"text version", strings.Replace(minimal, `"schema_version":1`, `"schema_version":"1"`, 1), 0, ErrInvalid, "not a whole number"},
		{"no version", `{"id":"r1"}`, 0, ErrMissingFields, "schema_version is missing"},
		{"null version", `{"schema_version":null,"id":"r1"}`, 0, ErrMissingFields, "schema_version is missing"},
		{"missing fields", `{"schema_version":1,"trigger":"x"}`, 0, ErrMissingFields, "id, system_id, generated_at"},
		{"empty id", strings.Replace(minimal, `"id":"r1"`, `"id":" "`, 1), 0, ErrMissingFields, "id"},
		{"oversized", minimal, 50, ErrTooLarge, "more than 50 bytes"},
		{"trailing data", minimal + `{"x":1}`, 0, ErrInvalid, "data after the report"},
		{"trailing garbage", minimal + `]`, 0, ErrInvalid, "data after the report"},
		{"invalid utf-8", strings.Replace(minimal, `"s1"`, "\"s\xff1\"", 1), 0, ErrInvalid, "not valid UTF-8"},
		{"not an object", `[1,2]`, 0, ErrInvalid, "not a JSON object"},
		{"empty", "  ", 0, ErrInvalid, "empty body"},
		{"truncated", minimal[:40], 0, ErrInvalid, ""},
		{"malformed", `{"schema_version":1,}`, 0, ErrInvalid, "malformed JSON"},
		{"wrong type", strings.Replace(minimal, `"collection":[]`, `"collection":{}`, 1), 0, ErrInvalid, "field collection"},
		{"bad time", strings.Replace(minimal, `2026-11-22T08:00:00Z`, `yesterday`, 1), 0, ErrInvalid, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Decode(strings.NewReader(tc.in), tc.limit)
			if tc.is == nil {
				if err != nil || r == nil || r.ID == "" {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if !errors.Is(err, tc.is) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

func TestDecodeGolden(t *testing.T) {
	for _, name := range []string{"host-full", "host-empty"} {
		data, err := os.ReadFile("testdata/" + name + ".golden.json")
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(bytes.NewReader(data), 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, _ := json.MarshalIndent(r, "", "  ")
		if string(again)+"\n" != string(data) {
			t.Errorf("%s does not round-trip", name)
		}
	}
}

// FuzzDecode: go test ./inventory -run '^$' -fuzz FuzzDecode -fuzztime 60s -fuzzminimizetime 2s
// (the default minimize time stalls on the large golden seeds on a busy machine).
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"host-full", "host-empty"} {
		data, err := os.ReadFile("testdata/" + name + ".golden.json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimal))
	f.Add([]byte(`{"schema_version":2}`))
	f.Add([]byte(`{"schema_version":1,"id":"a","system_id":"b","generated_at":"2026-01-01T00:00:00+23:59"}`))
	f.Add([]byte(minimal + "x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(bytes.NewReader(data), 64<<10)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		// What was accepted encodes and decodes to the same report.
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("an accepted report does not encode: %v", err)
		}
		r2, err := DecodeBytes(enc)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		enc2, _ := json.Marshal(r2)
		if !bytes.Equal(enc, enc2) || !reflect.DeepEqual(r.Collection, r2.Collection) {
			t.Fatalf("round trip changed the report:\n%s\n%s", enc, enc2)
		}
	})
}
