package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"sync"
	"time"
)

// Cookie names.
const (
	sessionCookie = "cld_session"
	loginCookie   = "cld_login" // double-submit token of the sign-in form
	viewCookie    = "cld_view"
)

// maxSessions bounds the in-memory store; the oldest idle session goes first.
const maxSessions = 1000

// flash is a one-time message shown on the next page of a session.
type flash struct {
	Kind string // "success", "error" or "info"
	Text string
}

// session is a signed-in dashboard user.
type session struct {
	user     string
	csrf     string
	lastSeen time.Time
	flashes  []flash
}

// sessionStore keeps sessions in memory; they end after idle time without
// a request, on sign-out, and when the daemon restarts.
type sessionStore struct {
	mu   sync.Mutex
	m    map[string]*session
	idle time.Duration
	now  func() time.Time
	// hosts maps a host-authenticated user to its session's ID.
	hosts map[string]string
}

func newSessionStore(idle time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{m: map[string]*session{}, idle: idle, now: now}
}

// randomToken returns an unguessable token (130 random bits).
func randomToken() string { return rand.Text() }

// create starts a session for user and returns its ID.
func (st *sessionStore) create(user string) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	var oldestID string
	var oldest time.Time
	for id, s := range st.m {
		if now.Sub(s.lastSeen) > st.idle {
			delete(st.m, id)
		} else if oldestID == "" || s.lastSeen.Before(oldest) {
			oldestID, oldest = id, s.lastSeen
		}
	}
	if len(st.m) >= maxSessions {
		delete(st.m, oldestID)
	}
	id := randomToken()
	st.m[id] = &session{user: user, csrf: randomToken(), lastSeen: now}
	return id
}

// forHost is the session of a user the host authenticated (proxy or
// session mode): one per user, made at its first request, so that its
// CSRF token and messages last across requests without a cookie of ours.
func (st *sessionStore) forHost(user string) (id, csrf string) {
	key := "host\x00" + user
	st.mu.Lock()
	id, ok := st.hosts[key]
	st.mu.Unlock()
	if ok {
		if _, csrf, ok := st.touch(id); ok {
			return id, csrf
		}
	}
	id = st.create(user)
	_, csrf, _ = st.touch(id)
	st.mu.Lock()
	if st.hosts == nil {
		st.hosts = map[string]string{}
	}
	for k, v := range st.hosts {
		if _, live := st.m[v]; !live {
			delete(st.hosts, k)
		}
	}
	st.hosts[key] = id
	st.mu.Unlock()
	return id, csrf
}

// touch looks a session up, refreshes its idle timer and returns its user
// and CSRF token.
func (st *sessionStore) touch(id string) (user, csrf string, ok bool) {
	if id == "" {
		return "", "", false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[id]
	if !ok {
		return "", "", false
	}
	now := st.now()
	if now.Sub(s.lastSeen) > st.idle {
		delete(st.m, id)
		return "", "", false
	}
	s.lastSeen = now
	return s.user, s.csrf, true
}

// delete ends a session.
func (st *sessionStore) delete(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, id)
}

// addFlash queues a message for the session's next page.
func (st *sessionStore) addFlash(id string, f flash) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.m[id]; ok && len(s.flashes) < 10 {
		s.flashes = append(s.flashes, f)
	}
}

// takeFlashes returns and forgets the session's queued messages.
func (st *sessionStore) takeFlashes(id string) []flash {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[id]
	if !ok {
		return nil
	}
	f := s.flashes
	s.flashes = nil
	return f
}

// validToken reports whether s looks like a token of randomToken.
func validToken(s string) bool {
	if len(s) < 20 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// tokensEqual compares two secrets in constant time; empty never matches.
func tokensEqual(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
