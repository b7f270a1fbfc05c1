package reporter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/inventory"
)

// RunLinked makes the start or link report, then runs the triggers and the
// delivery of the outbox until ctx ends.
func (m *Reporter) RunLinked(ctx context.Context, s *link.Session) error {
	done := make(chan struct{})
	m.mu.Lock()
	m.active = done
	st := m.st
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.active = nil
		m.mu.Unlock()
		close(done)
	}()

	sched, spec, err := dailySchedule(s.SystemID())
	if err != nil {
		return fmt.Errorf("inventory: daily schedule: %w", err)
	}
	loc := m.tune.Loc
	now := m.clock.Now()
	next := sched.Next(now.In(loc))
	m.log.Info("inventory reports scheduled", "daily_at", fmt.Sprintf("%02d:%02d", DailyMinute(s.SystemID())/60, DailyMinute(s.SystemID())%60),
		"cron", spec, "time_zone", loc.String(), "next", next)
	m.update(func(st *invState) { n := next; st.Next = &n; st.SystemID = s.SystemID() })

	trigger := TriggerStart
	linkedAt := s.LinkedAt()
	if st.LinkReported == nil || !st.LinkReported.Equal(linkedAt) {
		trigger = TriggerLink
	}
	last, err := m.enqueue(ctx, s, trigger, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		m.log.Error("could not make the "+trigger+" inventory report", "err", err)
	} else if trigger == TriggerLink {
		m.update(func(st *invState) { st.LinkReported = &linkedAt })
	}

	bo := backoff.New(m.tune.RetryMin, m.tune.RetryMax)
	retryAt := now // the outbox (this report, or one left from before a restart) goes at once
	poll := now.Add(m.tune.Poll)
	var dirtySince, dirtyLast time.Time // a change waits for its report; zero when none
	var dirtyWhy []string
	seenSig := tunnelSig(reportTunnels(last))
	tunnelWake := m.cfg.Tunnels.Changed()
	markDirty := func(now time.Time, why string) {
		if dirtySince.IsZero() {
			dirtySince = now
		}
		dirtyLast = now
		if why != "" && !slices.Contains(dirtyWhy, why) {
			dirtyWhy = append(dirtyWhy, why)
		}
	}

	for {
		if ctx.Err() != nil {
			return nil
		}
		now := m.clock.Now()
		if !now.Before(next) {
			if r, err := m.enqueue(ctx, s, TriggerDaily, nil); err == nil {
				last = r
				retryAt = now
				bo.Reset()
			} else if ctx.Err() == nil {
				m.log.Error("could not make the daily inventory report", "err", err)
			}
			next = sched.Next(now.In(loc))
			m.update(func(st *invState) { n := next; st.Next = &n })
		}
		if !now.Before(poll) {
			poll = now.Add(m.tune.Poll)
			markDirty(now, "") // look for platform and application changes
		}
		if !dirtySince.IsZero() && (!now.Before(dirtyLast.Add(m.tune.Quiet)) || !now.Before(dirtySince.Add(m.tune.MaxDelay))) {
			dirtySince, dirtyLast, dirtyWhy = time.Time{}, time.Time{}, nil
			r, err := m.build(ctx, s, TriggerChange, nil)
			switch {
			case err != nil && ctx.Err() == nil:
				m.log.Error("could not make a change inventory report", "err", err)
			case err == nil:
				if changes := inventory.Changes(last, r); len(changes) > 0 {
					r.Changes = changes
					if err := m.put(r); err != nil {
						m.log.Error("could not queue the change inventory report", "err", err)
					} else {
						m.log.Info("inventory changed; report queued", "id", r.ID, "changes", changes)
						last = r
						retryAt = now
						bo.Reset()
					}
				}
				seenSig = tunnelSig(reportTunnels(last))
			}
		}
		if m.box.Pending() && !now.Before(retryAt) {
			err := m.deliver(ctx, s)
			switch {
			case errors.Is(err, errLinkOver):
				return nil
			case err != nil && m.box.Pending():
				d := bo.Next()
				retryAt = m.clock.Now().Add(d)
				m.log.Warn("inventory report not delivered; retrying", "in", d.Round(time.Millisecond), "err", err)
			default:
				bo.Reset()
			}
		}

		// Sleep until the next thing is due.
		now = m.clock.Now()
		wake := next
		if poll.Before(wake) {
			wake = poll
		}
		if !dirtySince.IsZero() {
			due := dirtyLast.Add(m.tune.Quiet)
			if max := dirtySince.Add(m.tune.MaxDelay); max.Before(due) {
				due = max
			}
			if due.Before(wake) {
				wake = due
			}
		}
		if m.box.Pending() && retryAt.Before(wake) {
			wake = retryAt
		}
		t := m.clock.NewTimer(max(wake.Sub(now), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.Chan():
		case <-tunnelWake:
			t.Stop()
			tunnelWake = m.cfg.Tunnels.Changed()
			live := liveTunnels(m.cfg.Tunnels.List())
			if sig := tunnelSig(live); sig != seenSig {
				seenSig = sig
				markDirty(m.clock.Now(), "tunnels")
			}
		case req := <-m.submit:
			t.Stop()
			r, err := m.enqueue(req.ctx, s, TriggerManual, nil)
			if err == nil {
				last = r
				err = m.deliver(req.ctx, s)
				if m.box.Pending() {
					retryAt = m.clock.Now().Add(bo.Next())
				} else {
					bo.Reset()
				}
			}
			req.reply <- err
			if errors.Is(err, errLinkOver) {
				return nil
			}
		}
	}
}
