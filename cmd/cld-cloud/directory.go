package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
)

// directoryJSON is what "cld-cloud directory --json" prints: users and
// devices with the field names of the wire contract (cloudapi), by e-mail
// and by device ID.
type directoryJSON struct {
	Account     int64                      `json:"account"`
	Users       []cloudapi.DirectoryUser   `json:"users"`
	Devices     []cloudapi.DirectoryDevice `json:"devices"`
	Batches     int                        `json:"batches"`
	LastBatchAt *time.Time                 `json:"last_batch_at,omitempty"`
}

const directoryHelp = `--data DIR --account N [--json]

Prints the user and device directory that the account's linked systems sent
(MX-ONE Provisioning Manager sync): the number of users and devices, the
number of batches applied and when the last one was. The server may be
running.

With --json, prints one JSON object instead:

  {"account":100001,
   "users":[{"email":"anna.berg@example.com","extension":"2001","first_name":"Anna",
             "last_name":"Berg","services":["zoom-client"],"role":"user"}, ...],
   "devices":[{"id":"SEP001122334455","extension":"2001","type":"sip",
               "name":"Reception phone","owner":"anna.berg@example.com"}, ...],
   "batches":3,
   "last_batch_at":"2026-11-22T08:00:00Z"}

users (by e-mail, in lower case) and devices (by id) have the field names of
the cloud API's DirectoryUser and DirectoryDevice, empty optional fields left
out; users and devices are [] when there are none; last_batch_at (RFC 3339,
UTC) is left out until a batch was applied.`

// cmdDirectory prints an account's directory.
func cmdDirectory(e env, args []string) error {
	fs := newFlags(e, "directory", directoryHelp)
	dir := fs.String("data", "", "data directory of the cloud")
	account := fs.String("account", "", "account number")
	asJSON := fs.Bool("json", false, "print the counts, users and devices as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return usagef(fs, "--data is required")
	case *account == "":
		return usagef(fs, "--account is required")
	}
	id, err := strconv.ParseInt(*account, 10, 64)
	if err != nil || id <= 0 {
		return usagef(fs, "--account must be an account number, such as 100001")
	}
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Account(e.ctx, id); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("there is no account %d", id)
	} else if err != nil {
		return err
	}
	d, err := st.Directory(e.ctx, id)
	if err != nil {
		return err
	}
	if !*asJSON {
		last := "none applied yet"
		if !d.Summary.LastBatchAt.IsZero() {
			last = "the last at " + d.Summary.LastBatchAt.Format(time.RFC3339)
		}
		fmt.Fprintf(e.stdout, "Account %d: %s, %s; %s applied, %s.\n", id, count(d.Summary.Users, "user"),
			count(d.Summary.Devices, "device"), count(d.Summary.Batches, "batch"), last)
		return nil
	}
	out := directoryJSON{Account: id, Users: make([]cloudapi.DirectoryUser, 0, len(d.Users)),
		Devices: make([]cloudapi.DirectoryDevice, 0, len(d.Devices)), Batches: d.Summary.Batches}
	if !d.Summary.LastBatchAt.IsZero() {
		at := d.Summary.LastBatchAt.UTC()
		out.LastBatchAt = &at
	}
	for _, u := range d.Users {
		out.Users = append(out.Users, cloudapi.DirectoryUser{Email: u.Email, Extension: u.Extension, FirstName: u.FirstName,
			LastName: u.LastName, Services: u.Services, Role: u.Role})
	}
	for _, v := range d.Devices {
		out.Devices = append(out.Devices, cloudapi.DirectoryDevice{ID: v.ID, Extension: v.Extension, Type: v.Type, Name: v.Name, Owner: v.Owner})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(append(b, '\n'))
	return err
}

// count says "1 user", "2 users", "3 batches".
func count(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case noun[len(noun)-1] == 'h':
		return fmt.Sprintf("%d %ses", n, noun)
	default:
		return fmt.Sprintf("%d %ss", n, noun)
	}
}
