package ui

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/cloudlink/cld/ui/i18n"
)

// inventoryLast is when the cloud last accepted a report ("Never" before the
// first).
func (d dashboard) inventoryLast(l *i18n.Locale) string {
	if d.Status.Inventory.Last == nil {
		return l.T("Never")
	}
	return d.time(l, d.Status.Inventory.Last)
}

// handleInventoryPreview shows the exact report that would be sent now,
// indented for reading.
func (s *server) handleInventoryPreview(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	doc, err := s.client.InventoryPreview(r.Context())
	if err != nil {
		s.log.Warn("previewing the inventory report", "err", err)
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: daemonMessage(err)})
		http.Redirect(w, r, rc.home()+"#inventory", http.StatusSeeOther)
		return
	}
	var out bytes.Buffer
	if json.Indent(&out, doc, "", "  ") != nil {
		out.Reset()
		out.Write(doc)
	}
	s.render(w, r, http.StatusOK, inventoryPreviewView(s.page(rc, "Inventory report preview"), out.String()))
}

// handleInventorySubmit makes and sends a report now and says how it went.
func (s *server) handleInventorySubmit(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	inv, err := s.client.SubmitInventory(r.Context())
	switch {
	case err != nil:
		s.log.Warn("submitting an inventory report", "err", err)
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: daemonMessage(err)})
	case inv.LastError != "":
		l := lc(r.Context())
		msg := l.T("The inventory report was not delivered: {reason}", "reason", inv.LastError)
		if inv.Pending {
			msg = l.T("The inventory report was not delivered: {reason} It waits on this host and is retried.", "reason", inv.LastError)
		}
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: msg})
	default:
		s.log.Info("inventory report submitted", "user", rc.user)
		l := lc(r.Context())
		s.sessions.addFlash(rc.sid, flash{Kind: "success", Text: l.T("The inventory report was accepted by CloudLink at {time}.", "time", (dashboard{Loc: s.loc}).time(l, inv.Last))})
	}
	http.Redirect(w, r, rc.home()+"#inventory", http.StatusSeeOther)
}
