package cloud

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
)

// The directory (POST cloudapi.PathSystemDirectory, GET /portal/directory).
//
// A linked system sends its host's users and devices (MX-ONE's
// Provisioning Manager) as batches of changes, with its device token. The
// body is one cloudapi.DirectoryBatch as JSON (Content-Encoding gzip or
// identity), at most cloudapi.MaxDirectoryBatchBytes as sent and once
// decompressed (413 otherwise). It is decoded strictly: a field the batch
// does not have is refused, as is anything after the object. The batch ID
// is 1 to 64 bytes of printable characters; every entry is Validate()d and
// stored Normalize()d, every key (e-mail or device ID) may appear once per
// batch, in its upserts and deletes together, and a batch carries at most
// cloudapi.MaxDirectoryUsers users and cloudapi.MaxDirectoryDevices
// devices of each kind (upserts, deletes). The daemon checks all that
// before it sends, so a 400 names the entry (by index and key) and the
// problem for its log: it is the daemon's bug.
//
// The batch is applied at most once (store.ApplyDirectoryBatch, by
// system and batch ID): a retry is answered 200 with Duplicate true and
// the current counts. A batch that would leave the account with more than
// the limits is refused whole with 409.

// maxDirectoryBatchID bounds a batch's ID.
const maxDirectoryBatchID = 64

// maxDeleteKey bounds a key in delete_users (an e-mail).
const maxDeleteKey = 254

func (s *Server) handleSystemDirectory(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "Send a directory batch with POST."})
		return
	}
	sys, aerr := s.deviceSystem(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	refuse := func(aerr *apiError, logDetail string) {
		// logDetail names no e-mail address; aerr.Description may.
		s.log.Warn("directory batch refused", "system_id", sys.ID, "account_id", sys.Account.ID, "status", aerr.Status, "problem", logDetail)
		writeError(w, aerr)
	}
	if aerr := checkJSONType(r); aerr != nil {
		refuse(aerr, "content type")
		return
	}
	raw, aerr := readDirectoryBody(w, r)
	if aerr != nil {
		refuse(aerr, "body: "+aerr.Description)
		return
	}
	b, aerr := decodeDirectoryBatch(raw)
	if aerr != nil {
		refuse(aerr, "JSON: "+aerr.Description)
		return
	}
	batch, aerr, where := checkDirectoryBatch(b)
	if aerr != nil {
		refuse(aerr, where)
		return
	}
	res, err := s.store.ApplyDirectoryBatch(r.Context(), sys.Account.ID, sys.ID, batch, s.now())
	var full *store.DirectoryFullError
	switch {
	case errors.As(err, &full):
		refuse(&apiError{http.StatusConflict, cloudapi.ErrBadRequest, fmt.Sprintf(
			"The batch would leave account %d with %d users and %d devices; it holds at most %d users and %d devices. Nothing was changed: delete users or devices first.",
			sys.Account.ID, full.Users, full.Devices, full.MaxUsers, full.MaxDevices)}, "directory full")
		return
	case err != nil:
		s.log.Error("apply directory batch failed", "system_id", sys.ID, "batch_id", b.ID, "err", err)
		writeError(w, internalError())
		return
	}
	if res.Duplicate {
		s.log.Info("directory batch already applied", "system_id", sys.ID, "account_id", sys.Account.ID, "batch_id", b.ID,
			"users", res.Users, "devices", res.Devices)
	} else {
		s.log.Info("directory batch applied", "system_id", sys.ID, "account_id", sys.Account.ID, "batch_id", b.ID,
			"upsert_users", len(b.UpsertUsers), "delete_users", len(b.DeleteUsers),
			"upsert_devices", len(b.UpsertDevices), "delete_devices", len(b.DeleteDevices),
			"users", res.Users, "devices", res.Devices)
	}
	writeJSON(w, http.StatusOK, cloudapi.DirectoryAccepted{ID: b.ID, Duplicate: res.Duplicate, Users: res.Users, Devices: res.Devices})
}

func batchTooLarge() *apiError {
	return &apiError{http.StatusRequestEntityTooLarge, cloudapi.ErrBadRequest, fmt.Sprintf(
		"The directory batch is larger than %d MiB; the cloud takes at most %d MiB of JSON (compressed or not). Send the changes in smaller batches.",
		cloudapi.MaxDirectoryBatchBytes>>20, cloudapi.MaxDirectoryBatchBytes>>20)}
}

// readDirectoryBody reads the batch's JSON: gzip or identity, bounded as
// sent and once decompressed.
func readDirectoryBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	const limit = cloudapi.MaxDirectoryBatchBytes
	var gzipped bool
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gzipped = true
	default:
		return nil, &apiError{http.StatusUnsupportedMediaType, cloudapi.ErrBadRequest,
			fmt.Sprintf("The Content-Encoding %q is not supported; send the batch with gzip (or uncompressed).", clip(enc, 40))}
	}
	if r.ContentLength > limit {
		return nil, batchTooLarge()
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if gzipped {
		zr, err := gzip.NewReader(src)
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, batchTooLarge()
		case errors.Is(err, io.EOF):
			return nil, badRequest("The request body is empty; send the directory batch as gzip-compressed JSON.")
		case err != nil:
			return nil, badRequest("The request body is not gzip data although Content-Encoding says gzip: %v.", err)
		}
		defer zr.Close()
		src = zr
	}
	raw, err := io.ReadAll(io.LimitReader(src, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, batchTooLarge()
		}
		return nil, badRequest("The directory batch could not be read: %v.", err)
	}
	if len(raw) > limit {
		return nil, batchTooLarge()
	}
	return raw, nil
}

// decodeDirectoryBatch decodes one batch strictly: unknown fields and
// anything after the object are refused.
func decodeDirectoryBatch(raw []byte) (cloudapi.DirectoryBatch, *apiError) {
	var b cloudapi.DirectoryBatch
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&b)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			return b, badRequest("The request body must hold one JSON object and nothing after it.")
		}
		return b, nil
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return b, badRequest("The directory batch has the field %s, which is not a field of a batch, user or device; the cloud refuses unknown fields.", clip(f, 80))
	}
	// Any other problem: say it as the other endpoints do.
	var loose cloudapi.DirectoryBatch
	jb := jsonBody{limit: cloudapi.MaxDirectoryBatchBytes, what: "directory batch", empty: "send the directory batch as JSON.",
		shape: "The request body must be a JSON object (a directory batch), not a JSON %s."}
	if aerr := decodeJSON(bytes.NewReader(raw), &loose, jb); aerr != nil {
		return b, aerr
	}
	return b, badRequest("The request body is not a valid directory batch: %v.", err)
}

// checkDirectoryBatch checks a decoded batch and returns it normalized for
// the store; on a problem, also where it is without any e-mail (for the
// log).
func checkDirectoryBatch(b cloudapi.DirectoryBatch) (store.DirectoryBatch, *apiError, string) {
	if err := checkBatchID(b.ID); err != nil {
		return store.DirectoryBatch{}, badRequest("The batch's id %s.", err), "id"
	}
	for _, n := range []struct {
		field string
		n     int
		max   int
		what  string
	}{
		{"upsert_users", len(b.UpsertUsers), cloudapi.MaxDirectoryUsers, "users"},
		{"delete_users", len(b.DeleteUsers), cloudapi.MaxDirectoryUsers, "users"},
		{"upsert_devices", len(b.UpsertDevices), cloudapi.MaxDirectoryDevices, "devices"},
		{"delete_devices", len(b.DeleteDevices), cloudapi.MaxDirectoryDevices, "devices"},
	} {
		if n.n > n.max {
			return store.DirectoryBatch{}, badRequest("The batch's %s holds %d entries; an account holds at most %d %s, so a batch carries at most as many. Send the changes in smaller batches.",
				n.field, n.n, n.max, n.what), n.field + " too long"
		}
	}
	out := store.DirectoryBatch{ID: b.ID,
		UpsertUsers:   make([]store.DirectoryUser, 0, len(b.UpsertUsers)),
		DeleteUsers:   make([]string, 0, len(b.DeleteUsers)),
		UpsertDevices: make([]store.DirectoryDevice, 0, len(b.UpsertDevices)),
		DeleteDevices: make([]string, 0, len(b.DeleteDevices)),
	}
	bad := func(field string, i int, key string, problem string) (store.DirectoryBatch, *apiError, string) {
		at := fmt.Sprintf("%s[%d]", field, i)
		return store.DirectoryBatch{}, badRequest("The batch's %s (%q) %s.", at, clip(key, 80), problem), at
	}
	invalid := func(err error) string {
		return "is invalid: " + strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	// seen maps a key to where it was first, such as "upsert_users[3]".
	users, devices := map[string]string{}, map[string]string{}
	twice := func(seen map[string]string, field string, i int, key string) (string, bool) {
		if first, ok := seen[key]; ok {
			return first, true
		}
		seen[key] = fmt.Sprintf("%s[%d]", field, i)
		return "", false
	}
	for i, u := range b.UpsertUsers {
		if err := u.Validate(); err != nil {
			return bad("upsert_users", i, u.Email, invalid(err))
		}
		u = u.Normalize()
		if first, dup := twice(users, "upsert_users", i, u.Email); dup {
			return bad("upsert_users", i, u.Email, "has the e-mail of "+first+": a key may appear once per batch")
		}
		out.UpsertUsers = append(out.UpsertUsers, store.DirectoryUser{Email: u.Email, Extension: u.Extension, FirstName: u.FirstName,
			LastName: u.LastName, Services: u.Services, Role: u.Role})
	}
	for i, e := range b.DeleteUsers {
		if err := checkDeleteKey(e); err != nil {
			return bad("delete_users", i, e, err.Error())
		}
		k := cloudapi.UserKey(e)
		if first, dup := twice(users, "delete_users", i, k); dup {
			return bad("delete_users", i, e, "has the e-mail of "+first+": a key may appear once per batch")
		}
		out.DeleteUsers = append(out.DeleteUsers, k)
	}
	for i, d := range b.UpsertDevices {
		if err := d.Validate(); err != nil {
			return bad("upsert_devices", i, d.ID, invalid(err))
		}
		d = d.Normalize()
		if first, dup := twice(devices, "upsert_devices", i, d.ID); dup {
			return bad("upsert_devices", i, d.ID, "has the id of "+first+": a key may appear once per batch")
		}
		out.UpsertDevices = append(out.UpsertDevices, store.DirectoryDevice{ID: d.ID, Extension: d.Extension, Type: d.Type,
			Name: d.Name, Owner: d.Owner})
	}
	for i, id := range b.DeleteDevices {
		if err := cloudapi.CheckDeviceID(id); err != nil {
			return bad("delete_devices", i, id, "is invalid: "+err.Error())
		}
		id = strings.TrimSpace(id)
		if first, dup := twice(devices, "delete_devices", i, id); dup {
			return bad("delete_devices", i, id, "has the id of "+first+": a key may appear once per batch")
		}
		out.DeleteDevices = append(out.DeleteDevices, id)
	}
	return out, nil, ""
}

// checkBatchID: 1 to 64 bytes of printable characters (the space
// included).
func checkBatchID(id string) error {
	switch {
	case id == "":
		return errors.New("is missing; every batch has an ID unique per system")
	case len(id) > maxDirectoryBatchID:
		return fmt.Errorf("is %d bytes long; at most %d are allowed", len(id), maxDirectoryBatchID)
	case !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }):
		return errors.New("may hold only printable characters")
	}
	return nil
}

// checkDeleteKey checks an e-mail to delete: present, not too long, no
// control characters. (Any address is fine: an absent one deletes
// nothing.)
func checkDeleteKey(e string) error {
	switch k := strings.TrimSpace(e); {
	case k == "":
		return errors.New("is empty: give the e-mail of the user to delete")
	case len(k) > maxDeleteKey:
		return fmt.Errorf("is %d bytes long; an e-mail has at most %d", len(k), maxDeleteKey)
	case !utf8.ValidString(k) || strings.ContainsFunc(k, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }):
		return errors.New("is not an e-mail address: it holds spaces, control characters or invalid UTF-8")
	}
	return nil
}

// The portal's directory page.

// directoryPage is the directory page's data: the layout's and the
// account's directory.
type directoryPage struct {
	pageData
	Dir store.Directory
}

// directoryTemplate is the directory page's template set (the layout and
// directory.html), parsed once.
var directoryTemplate = sync.OnceValues(func() (*template.Template, error) {
	funcs := template.FuncMap{
		"fmtTime": formatTime,
		"join":    strings.Join,
	}
	t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/directory.html")
	if err != nil {
		return nil, fmt.Errorf("parse page directory.html: %w", err)
	}
	return t, nil
})

func (s *Server) handlePortalDirectory(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requirePortal(w, r)
	if !ok {
		return
	}
	dir, err := s.store.Directory(r.Context(), p.member.Account.ID)
	if err != nil {
		s.log.Error("read directory failed", "account_id", p.member.Account.ID, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not read the directory. Try again later.")
		return
	}
	t, err := directoryTemplate()
	var buf bytes.Buffer
	if err == nil {
		err = t.ExecuteTemplate(&buf, "layout", directoryPage{
			pageData: pageData{Title: "Directory", Nav: p.nav(), Wide: true},
			Dir:      dir,
		})
	}
	if err != nil {
		s.log.Error("render page failed", "page", "directory.html", "err", err)
		http.Error(w, "The page could not be shown. See the cloud's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}
