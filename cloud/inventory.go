package cloud

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/inventory"
)

// Inventory reports (POST cloudapi.PathSystemInventory).
//
// The body is an inventory.Report as JSON, with Content-Encoding gzip (or
// identity). It is bounded twice: as sent (cloudapi.MaxInventoryWireBytes
// when compressed, cloudapi.MaxInventoryBytes when not) and once
// decompressed (cloudapi.MaxInventoryBytes, read through a LimitReader so
// that a gzip bomb stops there). Both give 413 report_too_large. A report
// that cannot be read or checked gives 400 invalid_report naming the
// problem. Either way nothing is stored, and the system's latest report
// stays the one before.
//
// A report is checked strictly by inventory.DecodeBytes (one JSON object of
// valid UTF-8 and nothing after it, every field of the right type,
// schema_version from 1 up to inventory.SchemaVersion, id, system_id and
// generated_at present) and here: system_id must be the system of the
// device token, id and trigger short and without control characters.
// Fields this cloud does not know are kept (the JSON is stored as received)
// but not shown: a newer daemon may add optional fields without a new
// schema version.
//
// Every accepted report is stored (store.AddReport: the last
// store.MaxReportsPerSystem of each system), idempotently by report ID: a
// retry is stored once and answered 200 with Duplicate true and the first
// receipt's time.

// Limits of the strings of a report that the cloud indexes.
const (
	maxReportID      = 128
	maxReportTrigger = 32
	// maxSummaryField clips the systems table's facts (the full values
	// stay in the stored JSON).
	maxSummaryField = 200
)

// handleSystemInventory stores a system's inventory report.
func (s *Server) handleSystemInventory(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "Send an inventory report with POST."})
		return
	}
	sys, aerr := s.deviceSystem(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if aerr := checkJSONType(r); aerr != nil {
		writeError(w, aerr)
		return
	}
	raw, aerr := readInventoryBody(w, r)
	if aerr == nil {
		var rep *inventory.Report
		if rep, aerr = parseReport(raw, sys.ID); aerr == nil {
			s.storeReport(w, r, sys, rep, raw)
			return
		}
	}
	s.log.Warn("inventory report refused", "system_id", sys.ID, "status", aerr.Status, "err", aerr.Description)
	writeError(w, aerr)
}

// storeReport stores an accepted report and answers.
func (s *Server) storeReport(w http.ResponseWriter, r *http.Request, sys store.System, rep *inventory.Report, raw []byte) {
	rec := reportRecord(rep, raw)
	rec.SystemID, rec.ReceivedAt = sys.ID, s.now()
	got, dup, err := s.store.AddReport(r.Context(), rec)
	if err != nil {
		s.log.Error("store inventory report failed", "system_id", sys.ID, "report_id", rep.ID, "err", err)
		writeError(w, internalError())
		return
	}
	if dup {
		if sum := sha256.Sum256(raw); got.SHA256 != hex.EncodeToString(sum[:]) {
			s.log.Warn("inventory report retried with other content; the first one is kept", "system_id", sys.ID, "report_id", rep.ID)
		}
		s.log.Info("inventory report already stored", "system_id", sys.ID, "report_id", rep.ID)
	} else {
		s.log.Info("inventory report stored", "system_id", sys.ID, "report_id", rep.ID, "trigger", rep.Trigger, "bytes", len(raw))
	}
	writeJSON(w, http.StatusOK, cloudapi.InventoryAccepted{ID: got.ID, Duplicate: dup, ReceivedAt: got.ReceivedAt})
}

// tooLarge is the 413 answer.
func tooLarge(format string, args ...any) *apiError {
	return &apiError{http.StatusRequestEntityTooLarge, cloudapi.ErrReportTooLarge, fmt.Sprintf(format, args...)}
}

func invalidReport(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, cloudapi.ErrInvalidReport, fmt.Sprintf(format, args...)}
}

// readInventoryBody reads the request's report JSON: gzip or identity,
// bounded as sent and once decompressed.
func readInventoryBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	var gzipped bool
	switch enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gzipped = true
	default:
		return nil, &apiError{http.StatusUnsupportedMediaType, cloudapi.ErrBadRequest,
			fmt.Sprintf("The Content-Encoding %q is not supported; send the report with gzip (or uncompressed).", clip(enc, 40))}
	}
	limit := int64(cloudapi.MaxInventoryBytes)
	if gzipped {
		limit = cloudapi.MaxInventoryWireBytes
	}
	if r.ContentLength > limit {
		return nil, wireTooLarge(gzipped, limit)
	}
	return decodeInventoryBody(http.MaxBytesReader(w, r.Body, limit), gzipped, limit, cloudapi.MaxInventoryBytes)
}

func wireTooLarge(gzipped bool, limit int64) *apiError {
	if gzipped {
		return tooLarge("The compressed report is larger than %d KiB; the cloud takes at most %d KiB compressed and %d KiB once decompressed.",
			limit>>10, limit>>10, cloudapi.MaxInventoryBytes>>10)
	}
	return tooLarge("The report is larger than %d KiB; the cloud takes at most %d KiB of JSON.", limit>>10, limit>>10)
}

// decodeInventoryBody decompresses (when gzipped) and reads body, which the
// caller bounds to limit bytes with an http.MaxBytesReader; the JSON is
// bounded to maxJSON bytes (cloudapi.MaxInventoryBytes; less in the fuzz
// test, for speed).
func decodeInventoryBody(body io.Reader, gzipped bool, limit, maxJSON int64) ([]byte, *apiError) {
	wireErr := func(err error) *apiError {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return wireTooLarge(gzipped, limit)
		}
		return nil
	}
	src := body
	if gzipped {
		zr, err := gzip.NewReader(body)
		if err != nil {
			if aerr := wireErr(err); aerr != nil {
				return nil, aerr
			}
			if errors.Is(err, io.EOF) {
				return nil, invalidReport("The request body is empty; send the inventory report as gzip-compressed JSON.")
			}
			return nil, invalidReport("The request body is not gzip data although Content-Encoding says gzip: %v.", err)
		}
		defer zr.Close()
		src = zr
	}
	raw, err := io.ReadAll(io.LimitReader(src, maxJSON+1))
	if err != nil {
		if aerr := wireErr(err); aerr != nil {
			return nil, aerr
		}
		return nil, invalidReport("The gzip data of the report is damaged: %v.", err)
	}
	if int64(len(raw)) > maxJSON {
		if gzipped {
			return nil, tooLarge("The report decompresses to more than %d KiB of JSON; the cloud takes at most %d KiB.",
				maxJSON>>10, maxJSON>>10)
		}
		return nil, wireTooLarge(false, limit)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, invalidReport("The report is empty; send the inventory report as JSON.")
	}
	return raw, nil
}

// parseReport decodes and checks a report of the system.
func parseReport(raw []byte, systemID string) (*inventory.Report, *apiError) {
	rep, err := decodeReport(raw)
	if err != nil {
		return nil, invalidReport("%s", err.Error())
	}
	if err := checkReport(rep); err != nil {
		return nil, invalidReport("%s", err.Error())
	}
	if rep.SystemID != systemID {
		return nil, invalidReport("The report's system_id %q is not this system (%s): a report is sent with its own system's device token.",
			clip(rep.SystemID, 80), systemID)
	}
	return rep, nil
}

// decodeReport decodes one report's JSON (already bounded in size) with
// inventory.DecodeBytes: one JSON object of valid UTF-8 and nothing after
// it, fields of the right types, schema_version from 1 up to
// inventory.SchemaVersion, and id, system_id and generated_at present.
// Unknown fields are accepted. The error is a sentence for the answer.
func decodeReport(raw []byte) (*inventory.Report, error) {
	rep, err := inventory.DecodeBytes(raw)
	if err != nil {
		detail := strings.TrimPrefix(err.Error(), inventory.ErrInvalid.Error()+": ")
		if errors.Is(err, inventory.ErrNewerVersion) {
			//lint:ignore ST1005 the error is the answer's sentence, shown to the daemon's user as is
			return nil, fmt.Errorf("The report is newer than this cloud reads: %s.", detail)
		}
		//lint:ignore ST1005 the error is the answer's sentence, shown to the daemon's user as is
		return nil, fmt.Errorf("The inventory report is invalid: %s.", strings.TrimSuffix(detail, "."))
	}
	return rep, nil
}

// checkReport checks what the cloud indexes beyond what decodeReport does.
func checkReport(rep *inventory.Report) error {
	for _, f := range []struct {
		name, v string
		max     int
	}{{"id", rep.ID, maxReportID}, {"system_id", rep.SystemID, maxReportID}, {"trigger", rep.Trigger, maxReportTrigger}} {
		if strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			//lint:ignore ST1005 the error is the answer's sentence, shown to the daemon's user as is
			return fmt.Errorf("The field %s holds control characters.", f.name)
		}
		if len(f.v) > f.max {
			//lint:ignore ST1005 the error is the answer's sentence, shown to the daemon's user as is
			return fmt.Errorf("The field %s is %d bytes long; at most %d are allowed.", f.name, len(f.v), f.max)
		}
	}
	return nil
}

// reportRecord is what the store keeps of a report: the JSON as received
// and the systems table's facts. Version on the systems page is the
// platform's version; the daemon's own is kept apart.
func reportRecord(rep *inventory.Report, raw []byte) store.Report {
	c := func(s string) string { return clip(strings.TrimSpace(s), maxSummaryField) }
	rec := store.Report{ID: rep.ID, GeneratedAt: rep.GeneratedAt.UTC(), SchemaVersion: rep.SchemaVersion,
		Trigger: rep.Trigger, JSON: raw}
	for _, ch := range rep.Changes {
		if len(rec.Changes) == 20 {
			rec.Changes = append(rec.Changes, fmt.Sprintf("… and %d more", len(rep.Changes)-20))
			break
		}
		rec.Changes = append(rec.Changes, c(ch))
	}
	if h := rep.Host; h != nil {
		rec.Hostname = c(h.Hostname)
	}
	if p := rep.Platform; p != nil {
		rec.PlatformType, rec.PlatformName, rec.PlatformParent, rec.PlatformVersion = c(p.Type), c(p.Name), c(p.Parent), c(p.Version)
	}
	var types []string
	seen := map[string]bool{}
	for _, a := range rep.Applications {
		if t := strings.TrimSpace(a.Type); t != "" && !seen[t] {
			seen[t] = true
			types = append(types, t)
		}
	}
	rec.ApplicationTypes = clip(strings.Join(types, ", "), 4*maxSummaryField)
	if d := rep.Daemon; d != nil {
		rec.DaemonVersion = c(d.Version)
	}
	if l := rep.License; l != nil {
		rec.LicenseType, rec.SWAStatus = c(l.Type), c(l.SWAStatus)
		if l.Expires != nil {
			rec.LicenseExpires = l.Expires.UTC()
		}
		if l.SWAExpiry != nil {
			rec.SWAExpiry = l.SWAExpiry.UTC()
		}
	}
	return rec
}
