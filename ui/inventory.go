package ui

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// inventoryLast is when the cloud last accepted a report ("Never" before the
// first).
func (d dashboard) inventoryLast() string {
	if d.Status.Inventory.Last == nil {
		return "Never"
	}
	return d.time(d.Status.Inventory.Last)
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
		msg := "The inventory report was not delivered: " + inv.LastError
		if inv.Pending {
			msg += " It waits on this host and is retried."
		}
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: msg})
	default:
		s.log.Info("inventory report submitted", "user", rc.user)
		s.sessions.addFlash(rc.sid, flash{Kind: "success", Text: "The inventory report was accepted by CloudLink at " + (dashboard{Loc: s.loc}).time(inv.Last) + "."})
	}
	http.Redirect(w, r, rc.home()+"#inventory", http.StatusSeeOther)
}
