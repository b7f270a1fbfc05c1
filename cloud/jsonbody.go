package cloud

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
)

// checkJSONType refuses a request body declared as anything but JSON (no
// Content-Type is taken as JSON).
func checkJSONType(r *http.Request) *apiError {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return badRequest("The request body must be JSON (Content-Type application/json).")
		}
	}
	return nil
}

// jsonBody names a JSON request body in decodeJSON's messages.
type jsonBody struct {
	limit int64  // the caller's MaxBytesReader limit, in bytes
	what  string // e.g. "tunnel list": "… is not a valid tunnel list"
	empty string // what to send, said when the body is empty
	// shape, when set, is the message (with %s for the JSON type found) for
	// a body whose top level has the wrong JSON type.
	shape string
}

// decodeJSON decodes exactly one JSON value from r into v (unknown fields
// are ignored, so that newer daemons can send more) and answers a bad body
// with a sentence that says what is wrong.
func decodeJSON(r io.Reader, v any, b jsonBody) *apiError {
	dec := json.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &mbe):
			return badRequest("The request body is larger than %d KiB.", b.limit>>10)
		case errors.As(err, &ute) && ute.Field != "":
			return badRequest("The field %s must be a %s, not a JSON %s.", ute.Field, jsonKind(ute.Type.Kind().String()), ute.Value)
		case errors.As(err, &ute) && b.shape != "":
			return badRequest(b.shape, ute.Value)
		case errors.As(err, &se):
			return badRequest("The request body is not valid JSON (at byte %d): %v.", se.Offset, err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("The request body is not complete JSON: it ends too early.")
		case errors.Is(err, io.EOF):
			return badRequest("The request body is empty; %s", b.empty)
		default:
			return badRequest("The request body is not a valid %s: %v.", b.what, err)
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return badRequest("The request body is larger than %d KiB.", b.limit>>10)
		}
		return badRequest("The request body must hold one JSON object and nothing after it.")
	}
	return nil
}
