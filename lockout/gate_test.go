package lockout

import (
	"context"
	"testing"
	"time"
)

// fakeTimer is a Timer whose channel the test fires; started tells when a
// wait has begun (the waiter is counted by then), stopped counts stops.
type fakeTimer struct {
	fire    chan time.Time
	started chan time.Duration
	stopped chan struct{}
}

func newFakeTimer() *fakeTimer {
	return &fakeTimer{fire: make(chan time.Time), started: make(chan time.Duration, 16), stopped: make(chan struct{}, 16)}
}

func (f *fakeTimer) start(d time.Duration) (<-chan time.Time, func() bool) {
	f.started <- d
	return f.fire, func() bool { f.stopped <- struct{}{}; return true }
}

// noTimer fails the test when a check waits.
func noTimer(t *testing.T) Timer {
	return func(time.Duration) (<-chan time.Time, func() bool) {
		t.Error("waited for a slot")
		return nil, func() bool { return true }
	}
}

type entered struct {
	release func()
	ok      bool
}

func enter(ctx context.Context, g *Gate, timer Timer) <-chan entered {
	c := make(chan entered, 1)
	go func() {
		r, ok := g.Enter(ctx, 500*time.Millisecond, timer)
		c <- entered{r, ok}
	}()
	return c
}

// TestGate: n checks enter at once; one more waits for a slot until its
// timer fires or a slot is released or its context is done; beyond
// maxWaiting waiting, and with a done context, a check is refused at once.
func TestGate(t *testing.T) {
	ctx := context.Background()
	g := NewGate(2, 1)
	var held []func()
	for range 2 {
		release, ok := g.Enter(ctx, time.Second, noTimer(t))
		if !ok {
			t.Fatal("refused with a free slot")
		}
		held = append(held, release)
	}

	// Its timer fires: refused.
	ft := newFakeTimer()
	res := enter(ctx, g, ft.start)
	if d := <-ft.started; d != 500*time.Millisecond {
		t.Fatalf("waits %v, want the caller's 500ms", d)
	}
	if g.Waiting() != 1 {
		t.Fatalf("%d waiting, want 1", g.Waiting())
	}
	// One waits already (maxWaiting): refused at once, without a timer.
	if _, ok := g.Enter(ctx, time.Second, noTimer(t)); ok {
		t.Fatal("entered beyond the waiting room")
	}
	select {
	case r := <-res:
		t.Fatalf("the waiter answered before its timer fired: %+v", r)
	default:
	}
	ft.fire <- time.Time{}
	if r := <-res; r.ok {
		t.Fatal("entered after the wait expired, with no free slot")
	}
	<-ft.stopped
	if g.Waiting() != 0 {
		t.Fatalf("%d waiting after the wait, want 0", g.Waiting())
	}

	// A slot released while it waits: it enters.
	res = enter(ctx, g, ft.start)
	<-ft.started
	held[0]()
	held[0]() // a second release frees nothing more
	r := <-res
	if !r.ok {
		t.Fatal("refused though a slot was released while it waited")
	}
	<-ft.stopped
	held[0] = r.release
	if _, ok := g.Enter(ctx, time.Second, func(time.Duration) (<-chan time.Time, func() bool) {
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c, func() bool { return false }
	}); ok {
		t.Fatal("entered a full gate: a double release freed a second slot")
	}

	// Its context is done while it waits: refused.
	cctx, cancel := context.WithCancel(ctx)
	res = enter(cctx, g, ft.start)
	<-ft.started
	cancel()
	if r := <-res; r.ok {
		t.Fatal("entered after its context was done")
	}
	<-ft.stopped

	// A done context is refused even with a free slot.
	for _, release := range held {
		release()
	}
	if _, ok := g.Enter(cctx, time.Second, noTimer(t)); ok {
		t.Fatal("entered with a done context")
	}
	if _, ok := g.Enter(ctx, time.Second, noTimer(t)); !ok {
		t.Fatal("refused by an empty gate")
	}
}

// TestGateNeverMoreThanN is for the race detector, too: of many checks
// entering at once, at most n run together, the others wait or are
// refused, and all slots come back.
func TestGateNeverMoreThanN(t *testing.T) {
	const n, waiters, checks = 2, 3, 40
	g := NewGate(n, waiters)
	running := make(chan struct{}, n) // overflows (blocks) if more than n run
	done := make(chan bool, checks)
	expire := make(chan time.Time)
	timer := func(time.Duration) (<-chan time.Time, func() bool) { return expire, func() bool { return true } }
	for range checks {
		go func() {
			release, ok := g.Enter(context.Background(), time.Second, timer)
			if ok {
				select {
				case running <- struct{}{}:
				default:
					t.Error("more than n checks run at once")
				}
				<-running
				release()
			}
			done <- ok
		}()
	}
	close(expire) // no wait lasts: the run ends without a sleep
	for range checks {
		<-done
	}
	for range n {
		if _, ok := g.Enter(context.Background(), time.Second, noTimer(t)); !ok {
			t.Fatal("a slot was not released")
		}
	}
}
