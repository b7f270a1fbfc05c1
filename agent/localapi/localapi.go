// Package localapi serves the daemon's local REST API (the routes of
// agent/api) from one route table, a Router on which each part of the
// daemon registers its own routes: on a unix socket for the CLI, where each
// connection's peer must be root or the daemon's own user, and in-process
// to the dashboard through client.NewHandler.
//
// Every error is a JSON api.Error with a fitting HTTP status; request bodies
// are size-limited and strictly decoded.
package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/cloudlink/cld/agent/api"
)

// MaxBodyBytes limits request bodies.
const MaxBodyBytes = 64 << 10

// Router is the local API's one route table. Each part of the daemon
// registers its own routes on it (Get, Post, Action, Document) with the
// patterns of agent/api; Handler serves them all.
type Router struct {
	mux      *http.ServeMux
	h        *handler
	patterns []string
}

// handle registers fn for pattern and keeps the pattern for Patterns.
func (rt *Router) handle(pattern string, fn http.HandlerFunc) {
	rt.mux.HandleFunc(pattern, fn)
	rt.patterns = append(rt.patterns, pattern)
}

// Patterns lists the registered routes ("METHOD /path"), in the order
// they were registered: the route table that tests walk.
func (rt *Router) Patterns() []string { return slices.Clone(rt.patterns) }

// NewRouter returns an empty route table.
func NewRouter(log *slog.Logger) *Router {
	if log == nil {
		log = slog.Default()
	}
	return &Router{mux: http.NewServeMux(), h: &handler{log: log.With("component", "localapi")}}
}

// Get registers a route that answers fn's value as JSON.
func (rt *Router) Get(pattern string, fn func(ctx context.Context) any) {
	rt.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, fn(r.Context()))
	})
}

// Post registers a route whose JSON body (required, strictly decoded into
// Req) fn answers; a nil answer is 204, an error its api.Error.
func Post[Req any](rt *Router, pattern string, fn func(ctx context.Context, req Req) (any, error)) {
	rt.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if rt.h.decode(w, r, &req) {
			rt.h.answer(w, r, func() (any, error) { return fn(r.Context(), req) })
		}
	})
}

// Action registers a route that takes no body (or an empty JSON object);
// fn reads what it needs of the request (its context, path values).
func (rt *Router) Action(pattern string, fn func(r *http.Request) (any, error)) {
	rt.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		if rt.h.decodeOptional(w, r) {
			rt.h.answer(w, r, func() (any, error) { return fn(r) })
		}
	})
}

// Document registers a route that answers a JSON document byte for byte
// as fn made it.
func (rt *Router) Document(pattern string, fn func(ctx context.Context) (json.RawMessage, error)) {
	rt.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		doc, err := fn(r.Context())
		if err != nil {
			rt.h.answer(w, r, func() (any, error) { return nil, err })
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(doc)
	})
}

// Raw registers a route whose answer fn makes whole: status, media type
// and body (metrics, probes).
func (rt *Router) Raw(pattern string, fn func(r *http.Request) (status int, contentType string, body []byte)) {
	rt.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		status, ct, body := fn(r)
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
}

// Handler serves the registered routes; any other path is a JSON 404 and a
// known path with another method a JSON 405. Call it once, after every
// part has registered its routes.
func (rt *Router) Handler() http.Handler {
	rt.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, &api.Error{Code: api.CodeBadRequest,
			Message: fmt.Sprintf("%s %s is not a route of the local API; is the CLI the same version as the daemon?", r.Method, r.URL.Path)})
	})
	return rt.h.recoverer(methodNotAllowed(rt.mux))
}

type handler struct {
	log *slog.Logger
}

// decode reads a required JSON body strictly into v; on failure it answers
// 400 and returns false.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, &api.Error{Code: api.CodeBadRequest, Message: fmt.Sprintf("The request body must be JSON (Content-Type application/json), not %q.", ct)})
		return false
	}
	if r.Body == nil { // in-process calls may have none
		r.Body = http.NoBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, &api.Error{Code: api.CodeBadRequest, Message: describeJSONError(err)})
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, &api.Error{Code: api.CodeBadRequest, Message: "The request body holds more than one JSON value; send exactly one object."})
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, &api.Error{Code: api.CodeBadRequest, Message: "The request body has data after the JSON object; send exactly one object."})
		return false
	}
	return true
}

// decodeOptional accepts an empty body or an empty JSON object.
func (h *handler) decodeOptional(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil {
		return true
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, &api.Error{Code: api.CodeBadRequest, Message: describeJSONError(err)})
		return false
	}
	if s := strings.TrimSpace(string(data)); s != "" && s != "{}" && s != "null" {
		writeError(w, http.StatusBadRequest, &api.Error{Code: api.CodeBadRequest, Message: "This request takes no body (or an empty JSON object)."})
		return false
	}
	return true
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return "The request body is empty; send a JSON object."
	case errors.As(err, &mbe):
		return fmt.Sprintf("The request body is larger than %d bytes.", mbe.Limit)
	case errors.As(err, &syn):
		return fmt.Sprintf("The request body is not valid JSON (at byte %d: %v).", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Sprintf("The field %q must be %s, not %s.", typ.Field, jsonKind(typ.Type.Kind()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Sprintf("The request has an unknown field %s; check the spelling (is the CLI the same version as the daemon?).", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "The request body ends in the middle of the JSON object."
	}
	return "The request body could not be read: " + err.Error()
}

// jsonKind names a Go kind the way a JSON writer thinks of it.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

// answer runs fn and writes its result (204 when nil) or its error.
func (h *handler) answer(w http.ResponseWriter, r *http.Request, fn func() (any, error)) {
	out, err := fn()
	if err != nil {
		var ae *api.Error
		if !errors.As(err, &ae) {
			h.log.Error("request failed", "route", r.Method+" "+r.URL.Path, "err", err)
			ae = &api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("Internal error: %v. See the daemon's log (journalctl -u cld).", err)}
		}
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
		}
		writeError(w, StatusFor(ae.Code), ae)
		return
	}
	if out == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// StatusFor maps an api error code to its HTTP status.
func StatusFor(code string) int {
	switch code {
	case api.CodeBadRequest, api.CodeAccountNeeded, api.CodeBadState:
		return http.StatusBadRequest
	case api.CodeWrongPassword, api.CodeUnauthorized:
		return http.StatusUnauthorized
	case api.CodeNotAdmin:
		return http.StatusForbidden
	case api.CodeUnknownAccount, api.CodeUnknownTunnel:
		return http.StatusNotFound
	case api.CodeAlreadyLinked, api.CodeNotLinked, api.CodeBusy:
		return http.StatusConflict
	case api.CodeCloudDown:
		return http.StatusServiceUnavailable
	case api.CodeRateLimited:
		return http.StatusTooManyRequests
	case api.CodeCloudError:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, &api.Error{Code: api.CodeInternal, Message: "Internal error: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, code int, e *api.Error) {
	data, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

// methodNotAllowed turns the mux's plain-text 405 into a JSON error.
func methodNotAllowed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" || pattern == "/" {
			// Route unknown for this method: is the path known for another?
			for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
				if m == r.Method {
					continue
				}
				probe := r.Clone(r.Context())
				probe.Method = m
				if _, p := mux.Handler(probe); p != "" && p != "/" {
					w.Header().Set("Allow", m)
					writeError(w, http.StatusMethodNotAllowed, &api.Error{Code: api.CodeBadRequest,
						Message: fmt.Sprintf("%s %s: use %s.", r.Method, r.URL.Path, m)})
					return
				}
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// recoverer answers 500 instead of dropping the connection on a panic.
func (h *handler) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.log.Error("panic serving the local API", "route", r.Method+" "+r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, &api.Error{Code: api.CodeInternal, Message: "Internal error; see the daemon's log (journalctl -u cld)."})
			}
		}()
		next.ServeHTTP(w, r)
	})
}
