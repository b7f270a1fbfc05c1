package cloud

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/inventory"
)

// FuzzInventoryBody fuzzes the request path's decoding of an inventory
// report: the gzip wrapper (bounded as sent and once decompressed), the
// JSON and the checks. A refusal is a 400 invalid_report or a 413
// report_too_large with a description; an accepted report is complete and
// of the token's system.
func FuzzInventoryBody(f *testing.F) {
	const fuzzMaxJSON = 64 << 10
	const sys = "7d7e5d4c-0000-4000-8000-000000000001"
	full := mustJSON(f, testReport(sys, "r1"))
	f.Add(full, false)
	f.Add(gzipped(f, full), true)
	f.Add(gzipped(f, []byte(`{"schema_version":1,"id":"x","system_id":"`+sys+`","generated_at":"2026-01-01T00:00:00Z"}`)), true)
	f.Add([]byte(`{"schema_version":2,"id":"x","system_id":"`+sys+`","generated_at":"2026-01-01T00:00:00Z"}`), false)
	f.Add([]byte(`{"schema_version":1,"id":"x","system_id":"other","generated_at":"2026-01-01T00:00:00Z"}`), false)
	// A gzip bomb against the fuzz test's JSON limit.
	f.Add(gzipped(f, append([]byte(`{"id":"`), bytes.Repeat([]byte("a"), 2*fuzzMaxJSON)...)), true)
	f.Add(append(gzipped(f, full), "trailing"...), true)
	f.Add(append(gzipped(f, full[:len(full)/2]), gzipped(f, full[len(full)/2:])...), true)
	f.Add([]byte(`{"schema_version":1} {}`), false)
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, true)
	f.Add([]byte(""), true)
	f.Fuzz(func(t *testing.T, body []byte, gz bool) {
		// Smaller limits than the server's keep each run fast; the
		// paths are the same.
		limit := int64(fuzzMaxJSON)
		if gz {
			limit = fuzzMaxJSON / 4
		}
		raw, aerr := decodeInventoryBody(http.MaxBytesReader(nil, io.NopCloser(bytes.NewReader(body)), limit), gz, limit, fuzzMaxJSON)
		var rep *inventory.Report
		if aerr == nil {
			if len(raw) > fuzzMaxJSON {
				t.Fatalf("accepted %d bytes of JSON", len(raw))
			}
			rep, aerr = parseReport(raw, sys)
		}
		if aerr != nil {
			switch {
			case aerr.Status == http.StatusBadRequest && aerr.Code == cloudapi.ErrInvalidReport:
			case aerr.Status == http.StatusRequestEntityTooLarge && aerr.Code == cloudapi.ErrReportTooLarge:
			default:
				t.Fatalf("bad error %+v", aerr)
			}
			if aerr.Description == "" || !strings.HasSuffix(aerr.Description, ".") {
				t.Fatalf("bad description %q", aerr.Description)
			}
			return
		}
		if rep.SystemID != sys || strings.TrimSpace(rep.ID) == "" || rep.GeneratedAt.IsZero() ||
			rep.SchemaVersion < 1 || rep.SchemaVersion > inventory.SchemaVersion {
			t.Fatalf("accepted %+v", rep)
		}
		rec := reportRecord(rep, raw)
		if rec.ID != rep.ID || len(rec.PlatformName) > 4*maxSummaryField || len(rec.Changes) > 21 {
			t.Fatalf("record %+v", rec)
		}
	})
}
