package updates

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/updater"
)

// Routes registers the update routes on the local API.
func (u *Updater) Routes(rt *localapi.Router) {
	rt.Get(api.RouteUpdate, func(context.Context) any { return u.Status() })
	rt.Action(api.RouteUpdateCheck, func(r *http.Request) (any, error) { return u.CheckNow(r.Context()) })
	rt.Action(api.RouteUpdateNow, func(r *http.Request) (any, error) { return u.UpdateNow(r.Context()) })
	localapi.Post(rt, api.RouteUpdatePause, func(_ context.Context, req api.UpdatePauseRequest) (any, error) { return u.Pause(req.Days) })
	rt.Action(api.RouteUpdateResume, func(*http.Request) (any, error) { return u.Resume(), nil })
	localapi.Post(rt, api.RouteUpdateSchedule, func(_ context.Context, req api.UpdateScheduleRequest) (any, error) {
		return u.SetSchedule(req)
	})
}

var errNotLinked = api.Errorf(api.CodeNotLinked, "This system is not linked to CloudLink, which is where updates come from. Link it first (`cld link` or the dashboard).")

func (u *Updater) current() (*link.Session, context.Context) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.session, u.runCtx
}

// CheckNow asks the cloud for a newer release now (it does not apply it).
func (u *Updater) CheckNow(ctx context.Context) (api.Update, error) {
	s, _ := u.current()
	if s == nil {
		return u.Status(), errNotLinked
	}
	u.check(ctx, s)
	return u.Status(), nil
}

// UpdateNow checks and, when a newer release is available, applies it in
// the background (even while paused, or when it failed here before): the
// answer is the state as the download begins.
func (u *Updater) UpdateNow(ctx context.Context) (api.Update, error) {
	s, runCtx := u.current()
	if s == nil {
		return u.Status(), errNotLinked
	}
	u.mu.Lock()
	busy := u.applying
	u.mu.Unlock()
	if busy {
		return u.Status(), errBusy
	}
	m, art, err := u.check(ctx, s)
	if err != nil {
		st := u.Status()
		return st, api.Errorf(api.CodeCloudDown, "%s.", capital(st.LastError))
	}
	if m == nil {
		st := u.Status()
		if st.LastUpdate != nil && st.LastUpdate.Result == updater.ResultRefused && st.LastCheck != nil && st.LastUpdate.Time.Equal(*st.LastCheck) {
			return st, api.Errorf(api.CodeBadRequest, "The release %s is refused: %s.", st.LastUpdate.Version, st.LastUpdate.Reason)
		}
		if st.LastError != "" {
			return st, api.Errorf(api.CodeBadRequest, "No update is available: %s.", st.LastError)
		}
		return st, api.Errorf(api.CodeBadRequest, "No update is available: this host runs the newest release of its stage (%s).", orUnknown(st.Stage))
	}
	if err := u.begin(m, art); err != nil {
		return u.Status(), err
	}
	u.mu.Lock()
	u.st.Skip = removeString(u.st.Skip, m.Version)
	u.mu.Unlock()
	go func() { _ = u.applyBegun(runCtx, s, m, art) }()
	return u.Status(), nil
}

// Pause pauses updates for days (1…30; 0 the longest), never past 30 days
// from when the pause began.
func (u *Updater) Pause(days int) (api.Update, error) {
	if days < 0 || days > 30 {
		return u.Status(), api.Errorf(api.CodeBadRequest, "A pause lasts 1 to 30 days; %d is not possible (0 pauses for the longest, 30 days).", days)
	}
	u.mu.Lock()
	now := u.cfg.Clock.Now()
	p, err := u.st.Pause.Extend(now, time.Duration(days)*24*time.Hour, u.st.LastScheduled)
	if err != nil {
		u.mu.Unlock()
		next := u.nextLocked(now)
		return u.Status(), api.Errorf(api.CodeBadRequest, "%s; the next scheduled update is at %s.", capital(err.Error()), next.Format(time.RFC1123))
	}
	u.st.Pause = p
	u.saveLocked()
	u.mu.Unlock()
	u.log.Info("updates paused", "until", p.Until, "since", p.Since)
	return u.Status(), nil
}

// Resume ends a pause.
func (u *Updater) Resume() api.Update {
	u.mu.Lock()
	now := u.cfg.Clock.Now()
	if u.st.Pause.Active(now) {
		u.st.Pause.Until = now
		u.saveLocked()
		u.log.Info("updates resumed")
	}
	u.mu.Unlock()
	return u.Status()
}

// SetSchedule saves a new schedule (Reschedule) and replans the next check.
func (u *Updater) SetSchedule(req api.UpdateScheduleRequest) (api.Update, error) {
	var s *updater.Schedule
	if !req.Default {
		words := []string{req.Every}
		if req.Weekday != "" {
			words = append(words, req.Weekday)
		}
		parsed, err := updater.ParseSchedule(append(words, req.Time))
		if err != nil {
			return u.Status(), api.Errorf(api.CodeBadRequest, "%s.", capital(err.Error()))
		}
		s = &parsed
	}
	u.mu.Lock()
	u.st.Schedule = s
	u.saveLocked()
	u.mu.Unlock()
	u.kick()
	st := u.Status()
	u.log.Info("update schedule changed", "schedule", st.Schedule, "default", st.Default)
	return st, nil
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}
