package cloud

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
)

// handleSystemRelease answers the newest release of the system's stage.
func (s *Server) handleSystemRelease(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "Use GET to read the newest release."})
		return
	}
	sys, aerr := s.deviceSystem(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	stage, err := s.store.SystemStage(r.Context(), sys.ID)
	if err != nil {
		s.log.Error("read the system's stage failed", "err", err)
		writeError(w, internalError())
		return
	}
	w.Header().Set(cloudapi.HeaderStage, stage)
	rels, err := s.store.LatestRelease(r.Context(), stage)
	if errors.Is(err, store.ErrNotFound) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		s.log.Error("read the latest release failed", "err", err)
		writeError(w, internalError())
		return
	}
	m := cloudapi.ReleaseManifest{Stage: stage, Version: rels[0].Version, Commit: rels[0].Commit, Notes: rels[0].Notes,
		MinVersion: rels[0].MinVersion, Artifacts: map[string]cloudapi.ReleaseArtifact{}}
	for _, rel := range rels {
		m.Artifacts[rel.Arch] = cloudapi.ReleaseArtifact{URL: cloudapi.PathReleaseBinary + strconv.FormatInt(rel.ID, 10),
			Size: rel.Size, SHA256: rel.SHA256, Signature: rel.Signature}
	}
	writeJSON(w, http.StatusOK, m)
}

// handleReleaseBinary serves a release's binary to a linked system, with
// range requests (a dropped download resumes).
func (s *Server) handleReleaseBinary(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "Use GET to download a release."})
		return
	}
	if _, aerr := s.deviceSystem(r); aerr != nil {
		writeError(w, aerr)
		return
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, cloudapi.PathReleaseBinary), 10, 64)
	if err != nil {
		writeError(w, &apiError{http.StatusNotFound, cloudapi.ErrBadRequest, "No such release."})
		return
	}
	rel, bin, err := s.store.ReleaseBinary(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !rel.WithdrawnAt.IsZero()) {
		writeError(w, &apiError{http.StatusNotFound, cloudapi.ErrBadRequest, "No such release (it may have been withdrawn)."})
		return
	}
	if err != nil {
		s.log.Error("read a release failed", "err", err)
		writeError(w, internalError())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "cld", rel.PublishedAt, bytes.NewReader(bin))
}
