package reporter

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/agent/outbox"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/inventory"
)

// build collects a report for trigger and fills in its identity.
func (m *Reporter) build(ctx context.Context, s *link.Session, trigger string, changes []string) (*inventory.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, invTimeout)
	defer cancel()
	r, err := m.collect(ctx, trigger, changes)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("the collector returned no report")
	}
	if r.SchemaVersion == 0 {
		r.SchemaVersion = inventory.SchemaVersion
	}
	if r.ID == "" {
		r.ID = uuid.NewString()
	}
	if s != nil {
		r.SystemID = s.SystemID()
	}
	if r.GeneratedAt.IsZero() {
		r.GeneratedAt = m.clock.Now().UTC()
	}
	r.Trigger = trigger
	if changes != nil {
		r.Changes = changes
	}
	if r.Collection == nil {
		r.Collection = []inventory.CollectorResult{}
	}
	return r, nil
}

// enqueue builds a report and puts it in the outbox.
func (m *Reporter) enqueue(ctx context.Context, s *link.Session, trigger string, changes []string) (*inventory.Report, error) {
	r, err := m.build(ctx, s, trigger, changes)
	if err != nil {
		return nil, err
	}
	if err := m.put(r); err != nil {
		return nil, err
	}
	m.log.Info("inventory report queued", "id", r.ID, "trigger", trigger)
	return r, nil
}

func (m *Reporter) put(r *inventory.Report) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	old, err := m.box.Put(outbox.Entry{ID: r.ID, SystemID: r.SystemID, Trigger: r.Trigger, QueuedAt: m.clock.Now().UTC(), Body: body})
	if err != nil {
		return err
	}
	if old != "" {
		m.log.Info("an unsent inventory report was superseded by a newer one", "dropped", old, "by", r.ID)
	}
	return nil
}

// errLinkOver: the link session is over (revoked, or the credentials
// were refused); the session's own handling has run.
var errLinkOver = errors.New("the link session is over")

// errReportRejected: the cloud refused a report for good (it was dropped).
var errReportRejected = errors.New("CloudLink refused the inventory report")

// deliver sends the outbox's report once. It returns nil when the outbox is
// empty afterwards because the cloud took the report, errReportRejected
// (wrapped) when the report was dropped, errLinkOver when the link is
// over, and another error to retry.
func (m *Reporter) deliver(ctx context.Context, s *link.Session) error {
	e, ok := m.box.Peek()
	if !ok {
		return nil
	}
	if e.SystemID != s.SystemID() {
		m.log.Warn("dropping an inventory report made for another link", "id", e.ID, "report_system_id", e.SystemID)
		_, _ = m.box.Remove(e.ID)
		m.setErr("")
		return nil
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(e.Body)
	if err := zw.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, invTimeout)
	defer cancel()
	acc, err := m.post(ctx, s, gz.Bytes())
	if err == nil {
		m.sent.Add(1)
	} else if ctx.Err() == nil {
		m.failed.Add(1)
	}
	var ce *cloudclient.Error
	switch {
	case err == nil:
		if _, rerr := m.box.Remove(e.ID); rerr != nil {
			m.log.Error("could not remove the delivered report from the outbox", "err", rerr)
		}
		now := m.clock.Now().UTC().Truncate(time.Second)
		m.update(func(st *invState) { st.Last, st.LastID = &now, e.ID })
		m.setErr("")
		m.cfg.Health.Clear(WarnRejected)
		m.log.Info("inventory report accepted by CloudLink", "id", e.ID, "trigger", e.Trigger, "duplicate", acc.Duplicate, "bytes", len(e.Body), "gzip_bytes", gz.Len())
		return nil
	case errors.As(err, &ce) && (ce.Code == cloudapi.ErrSystemRevoked || ce.Code == "invalid_client" || ce.Code == "unauthorized_client"):
		m.setErr(err.Error())
		s.HandleError(ctx, err) // the link session's handling: unlinked or link error
		return errLinkOver
	case errors.As(err, &ce) && (ce.Status == http.StatusRequestEntityTooLarge || (ce.Status == http.StatusBadRequest && ce.Code == cloudapi.ErrInvalidReport)):
		_, _ = m.box.Remove(e.ID)
		w := defRejected.Say("id", e.ID, "made", e.QueuedAt.Format(time.RFC3339), "trigger", e.Trigger, "reason", ce.Description)
		if ce.Description == "" {
			w = defRejectedCode.Say("id", e.ID, "trigger", e.Trigger, "status", ce.Status, "code", ce.Code)
		}
		msg := w.Text
		m.log.Error("CLOUDLINK REFUSED AN INVENTORY REPORT; IT WAS DROPPED", "id", e.ID, "status", ce.Status, "code", ce.Code, "description", ce.Description)
		m.cfg.Health.Set(w)
		m.setErr(msg)
		return fmt.Errorf("%w: %s", errReportRejected, msg)
	case errors.Is(err, cloudclient.ErrUnreachable):
		m.setErr(cloudclient.DescribeUnreachable(s.CloudURL(), err) + " The report waits on disk and is retried.")
		return err
	default:
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return err
		}
		m.setErr(err.Error() + ". The report waits on disk and is retried.")
		return err
	}
}

// post sends a gzipped report with the device token (once more with a new
// token when the cloud says the token is no longer valid).
func (m *Reporter) post(ctx context.Context, s *link.Session, gz []byte) (*cloudapi.InventoryAccepted, error) {
	tok, err := s.Token(ctx)
	if err != nil {
		return nil, err
	}
	acc, err := s.Cloud().PostInventory(ctx, tok, gz)
	var ce *cloudclient.Error
	if errors.As(err, &ce) && ce.Status == http.StatusUnauthorized && ce.Code != cloudapi.ErrSystemRevoked {
		s.Invalidate()
		if tok, err = s.Token(ctx); err != nil {
			return nil, err
		}
		acc, err = s.Cloud().PostInventory(ctx, tok, gz)
	}
	return acc, err
}

// --- change detection ------------------------------------------------------------

func reportTunnels(r *inventory.Report) []inventory.Tunnel {
	if r == nil {
		return nil
	}
	return r.Tunnels
}

func liveTunnels(ts api.Tunnels) []inventory.Tunnel {
	out := make([]inventory.Tunnel, 0, len(ts.Tunnels))
	for _, t := range ts.Tunnels {
		out = append(out, inventory.Tunnel{ID: t.ID, Component: t.Component, Name: t.Name, Status: t.Status, PublicURL: t.PublicURL})
	}
	return out
}

func tunnelSig(ts []inventory.Tunnel) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%s=%s;", t.ID, t.Status)
	}
	return b.String()
}
