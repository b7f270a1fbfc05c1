package localapi

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
)

var invLast = time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)

func (f *fake) Inventory(context.Context) api.Inventory {
	return api.Inventory{Last: &invLast}
}

func (f *fake) InventoryPreview(context.Context) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "preview")
	if f.err != nil {
		return nil, f.err
	}
	return json.RawMessage(`{"schema_version":1,"id":"r1","trigger":"manual"}`), nil
}

func (f *fake) SubmitInventory(context.Context) (api.Inventory, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "submit")
	if f.err != nil {
		return api.Inventory{}, f.err
	}
	return api.Inventory{Pending: true, LastError: "Could not reach CloudLink."}, nil
}

func TestInventoryRoutes(t *testing.T) {
	f := &fake{}
	c := client.NewHandler(NewHandler(f, nil))
	ctx := context.Background()
	inv, err := c.Inventory(ctx)
	if err != nil || inv.Last == nil || !inv.Last.Equal(invLast) {
		t.Fatalf("Inventory = %+v, %v", inv, err)
	}
	doc, err := c.InventoryPreview(ctx)
	if err != nil || string(doc) != `{"schema_version":1,"id":"r1","trigger":"manual"}` {
		t.Fatalf("preview = %s, %v (want the document byte for byte)", doc, err)
	}
	inv, err = c.SubmitInventory(ctx)
	if err != nil || !inv.Pending || inv.LastError == "" {
		t.Fatalf("submit = %+v, %v", inv, err)
	}
	f.err = &api.Error{Code: api.CodeNotLinked, Message: "not linked"}
	if _, err := c.SubmitInventory(ctx); err == nil {
		t.Fatal("submit: want the not_linked error")
	} else if ae, ok := err.(*api.Error); !ok || ae.Code != api.CodeNotLinked {
		t.Fatalf("submit error %v", err)
	}
	if _, err := c.InventoryPreview(ctx); err == nil {
		t.Fatal("preview: want the error")
	}
}
