package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// DefaultDecodeLimit is a sensible limit for Decode: far above a real
// report (a few KB), far below what would hurt the cloud.
const DefaultDecodeLimit = 1 << 20

// Errors of Decode, for callers that branch (all wrap ErrInvalid).
var (
	ErrInvalid       = errors.New("invalid inventory report")
	ErrTooLarge      = fmt.Errorf("%w: too large", ErrInvalid)
	ErrNewerVersion  = fmt.Errorf("%w: newer schema version", ErrInvalid)
	ErrMissingFields = fmt.Errorf("%w: required fields missing", ErrInvalid)
)

// Decode reads one report of at most limit bytes (≤ 0: DefaultDecodeLimit).
// Unknown fields are accepted (a newer writer of the same schema version
// may add fields); a newer schema_version, a missing schema_version, id,
// system_id or generated_at, an oversized body, data after the report or
// invalid UTF-8 are rejected with an error that names the problem.
func Decode(r io.Reader, limit int64) (*Report, error) {
	if limit <= 0 {
		limit = DefaultDecodeLimit
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading: %w", ErrInvalid, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return DecodeBytes(data)
}

// DecodeBytes is Decode of data (without a size limit).
func DecodeBytes(data []byte) (*Report, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8 (at byte %d)", ErrInvalid, invalidUTF8At(data))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: empty body; send the report as a JSON object", ErrInvalid)
	}
	// The version first: a newer report may not fit this code's types.
	var head struct {
		SchemaVersion *json.RawMessage `json:"schema_version"`
	}
	if err := decodeOne(data, &head); err != nil {
		return nil, err
	}
	if head.SchemaVersion == nil {
		return nil, fmt.Errorf("%w: schema_version is missing", ErrMissingFields)
	}
	var v int
	if err := json.Unmarshal(*head.SchemaVersion, &v); err != nil {
		return nil, fmt.Errorf("%w: schema_version %s is not a whole number", ErrInvalid, truncate(string(*head.SchemaVersion)))
	}
	switch {
	case v > SchemaVersion:
		return nil, fmt.Errorf("%w: schema_version %d is newer than this reader's %d; update the reader", ErrNewerVersion, v, SchemaVersion)
	case v < 1:
		return nil, fmt.Errorf("%w: schema_version %d is not a version (versions start at 1)", ErrInvalid, v)
	}
	var rep Report
	if err := decodeOne(data, &rep); err != nil {
		return nil, err
	}
	var missing []string
	if strings.TrimSpace(rep.ID) == "" {
		missing = append(missing, "id")
	}
	if strings.TrimSpace(rep.SystemID) == "" {
		missing = append(missing, "system_id")
	}
	if rep.GeneratedAt.IsZero() {
		missing = append(missing, "generated_at")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrMissingFields, strings.Join(missing, ", "))
	}
	if len(rep.ID) > 200 || len(rep.SystemID) > 200 {
		return nil, fmt.Errorf("%w: id and system_id must be at most 200 characters", ErrInvalid)
	}
	return &rep, nil
}

// decodeOne decodes exactly one JSON object from data into v.
func decodeOne(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("%w: not a JSON object", ErrInvalid)
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("%w: malformed JSON at byte %d: %v", ErrInvalid, se.Offset, se)
		case errors.As(err, &te):
			return fmt.Errorf("%w: field %s: %s is not a %s", ErrInvalid, te.Field, te.Value, te.Type)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%w: the JSON ends early", ErrInvalid)
		}
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the report (at byte %d)", ErrInvalid, dec.InputOffset())
	}
	return nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

func truncate(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
