package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/atomicfile"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// Retry delays after a failed send.
const (
	retryMin = time.Second
	retryMax = 5 * time.Minute
	// sendTimeout bounds one batch's request (a 10 000-entry batch is a
	// few MB).
	sendTimeout = 2 * time.Minute
)

var _ link.Subsystem = (*Service)(nil)
var _ link.Ender = (*Service)(nil)

// Name implements link.Subsystem.
func (s *Service) Name() string { return "provisioning" }

// RunLinked implements link.Subsystem: while linked, it sends what the
// cloud lacks, a batch at a time, whenever the directory changes, with
// backoff while the cloud cannot take it.
func (s *Service) RunLinked(ctx context.Context, sess *link.Session) error {
	bo := backoff.New(retryMin, retryMax)
	for ctx.Err() == nil {
		b, ok, err := s.next()
		if err != nil {
			s.fail(defSyncFailed.With(err.Error()))
			s.sleep(ctx, bo.Next())
			continue
		}
		if !ok {
			// Nothing to send: wait for a change (no timer, so an idle
			// service adds none to the clock).
			select {
			case <-ctx.Done():
			case <-s.wake:
			}
			continue
		}
		s.cfg.After(StepSending)
		acc, err := s.send(ctx, sess, b)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			var ce *cloudclient.Error
			switch {
			case errors.As(err, &ce) && (ce.Code == cloudapi.ErrSystemRevoked || ce.Code == "invalid_client" || ce.Code == "unauthorized_client"):
				s.fail(defSyncFailed.With(err.Error()))
				sess.HandleError(ctx, err)
				return nil
			case errors.Is(err, cloudclient.ErrUnreachable):
				s.fail(defSyncUnreachable.Say("reason", cloudclient.DescribeUnreachable(sess.CloudURL(), err)))
			case errors.As(err, &ce):
				s.fail(defSyncRefused.Say("count", batchCount(b), "status", ce.Status, "code", ce.Code, "reason", ce.Description))
			default:
				s.fail(defSyncError.Say("error", err))
			}
			s.sleep(ctx, bo.Next())
			continue
		}
		bo.Reset()
		s.cfg.After(StepAccepted)
		if err := s.acknowledged(b, acc); err != nil {
			s.fail(defSyncFailed.With(err.Error()))
			s.sleep(ctx, bo.Next())
		}
	}
	return nil
}

// next is the batch to send: the one in flight (sent again, with its ID)
// or a new one of what the cloud lacks, written to InFlightFile before it
// is sent. ok is false when the cloud has everything.
func (s *Service) next() (cloudapi.DirectoryBatch, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		c := Diff(s.synced, s.desired)
		if c.Empty() {
			return cloudapi.DirectoryBatch{}, false, nil
		}
		f := &inflight{Batch: c.Batch(newBatchID())}
		data, err := json.Marshal(f)
		if err != nil {
			return cloudapi.DirectoryBatch{}, false, err
		}
		if err := atomicfile.Write(filepath.Join(s.dir, InFlightFile), data, 0o600); err != nil {
			return cloudapi.DirectoryBatch{}, false, fmt.Errorf("could not save the batch for the cloud: %w; check that %s is writable", err, s.dir)
		}
		s.inflight = f
	}
	s.sending = true
	return s.inflight.Batch, true, nil
}

// send posts a batch with the device token (once more with a new token
// when the cloud says the token is no longer valid).
func (s *Service) send(ctx context.Context, sess *link.Session, b cloudapi.DirectoryBatch) (*cloudapi.DirectoryAccepted, error) {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	tok, err := sess.Token(ctx)
	if err != nil {
		return nil, err
	}
	acc, err := sess.Cloud().PostDirectory(ctx, tok, b)
	var ce *cloudclient.Error
	if errors.As(err, &ce) && ce.Status == http.StatusUnauthorized && ce.Code != cloudapi.ErrSystemRevoked {
		sess.Invalidate()
		if tok, err = sess.Token(ctx); err != nil {
			return nil, err
		}
		acc, err = sess.Cloud().PostDirectory(ctx, tok, b)
	}
	return acc, err
}

// acknowledged records a batch the cloud accepted: the synced directory
// has its changes (written first), and nothing is in flight.
func (s *Service) acknowledged(b cloudapi.DirectoryBatch, acc *cloudapi.DirectoryAccepted) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.synced.Clone()
	next.Apply(Changes{UpsertUsers: b.UpsertUsers, DeleteUsers: b.DeleteUsers, UpsertDevices: b.UpsertDevices, DeleteDevices: b.DeleteDevices})
	if err := next.save(filepath.Join(s.dir, SyncedFile)); err != nil {
		return fmt.Errorf("could not record the batch the cloud accepted: %w; it is sent again (the cloud applies it once)", err)
	}
	s.synced = next
	if s.inflight != nil && s.inflight.Batch.ID == b.ID {
		if err := atomicfile.Remove(filepath.Join(s.dir, InFlightFile)); err != nil {
			s.log.Warn("could not remove the sent batch's file", "err", err)
		}
		s.inflight = nil
	}
	s.sending = false
	now := s.clock.Now().UTC()
	s.status.LastSync, s.status.LastChanges, s.status.LastError = &now, batchCount(b), ""
	s.status.BatchesSent++
	s.cfg.Health.Clear(WarnSyncFailed)
	s.log.Info("directory changes accepted by CloudLink", "batch", b.ID, "changes", batchCount(b), "duplicate", acc.Duplicate, "users", acc.Users, "devices", acc.Devices)
	return nil
}

// fail records why the cloud does not have the changes yet: w is a
// WarnSyncFailed warning, its text the status's last error.
func (s *Service) fail(w api.Warning) {
	s.mu.Lock()
	s.status.LastError = w.Text
	s.sending = false
	s.mu.Unlock()
	s.log.Warn("directory changes not yet in CloudLink", "err", w.Text)
	s.cfg.Health.Set(w)
}

// LinkEnded implements link.Ender: a new link (perhaps to another
// account) has none of the directory, so the next one gets all of it.
func (s *Service) LinkEnded(bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synced = NewDirectory()
	if _, err := os.Stat(s.dir); err == nil {
		if err := atomicfile.Remove(filepath.Join(s.dir, SyncedFile)); err != nil {
			s.log.Warn("could not remove the synced directory", "err", err)
		}
		if err := atomicfile.Remove(filepath.Join(s.dir, InFlightFile)); err != nil {
			s.log.Warn("could not remove the batch in flight", "err", err)
		}
	}
	s.inflight, s.sending = nil, false
	s.status.LastError = ""
	s.cfg.Health.Clear(WarnSyncFailed)
}
