package verify

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/internal/dial"
	"github.com/latchkeyhq/latchkey/password"
)

// writeLog is a store that records the names of the writes made through
// it: every method of latchkey.Store that changes the database, and
// Migrate.
type writeLog struct {
	dial.Store
	mu     sync.Mutex
	writes map[string]int
}

func (s *writeLog) wrote(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes[name]++
}

func (s *writeLog) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.writes))
}

func (s *writeLog) Migrate(ctx context.Context) error {
	s.wrote("Migrate")
	return s.Store.Migrate(ctx)
}

func (s *writeLog) CreateUser(ctx context.Context, u latchkey.User) (latchkey.User, error) {
	s.wrote("CreateUser")
	return s.Store.CreateUser(ctx, u)
}

func (s *writeLog) SetActive(ctx context.Context, id int64, active bool) ([]latchkey.Digest, error) {
	s.wrote("SetActive")
	return s.Store.SetActive(ctx, id, active)
}

func (s *writeLog) SetPassword(ctx context.Context, id int64, u latchkey.PasswordUpdate) ([]latchkey.Digest, error) {
	s.wrote("SetPassword")
	return s.Store.SetPassword(ctx, id, u)
}

func (s *writeLog) CreateSession(ctx context.Context, ss latchkey.Session, u latchkey.LoginUpdate) error {
	s.wrote("CreateSession")
	return s.Store.CreateSession(ctx, ss, u)
}

func (s *writeLog) DeleteSession(ctx context.Context, id int64, sid string, now time.Time) (latchkey.Digest, error) {
	s.wrote("DeleteSession")
	return s.Store.DeleteSession(ctx, id, sid, now)
}

func (s *writeLog) DeleteSessions(ctx context.Context, id int64, keep *latchkey.Digest) ([]latchkey.Digest, error) {
	s.wrote("DeleteSessions")
	return s.Store.DeleteSessions(ctx, id, keep)
}

func (s *writeLog) TouchSessions(ctx context.Context, t map[latchkey.Digest]time.Time, min time.Duration) error {
	s.wrote("TouchSessions")
	return s.Store.TouchSessions(ctx, t, min)
}

func (s *writeLog) DeleteExpired(ctx context.Context, t time.Time) (int64, error) {
	s.wrote("DeleteExpired")
	return s.Store.DeleteExpired(ctx, t)
}

func (s *writeLog) RenewReader(ctx context.Context, id string, expires time.Time) error {
	s.wrote("RenewReader")
	return s.Store.RenewReader(ctx, id, expires)
}

func (s *writeLog) DropReader(ctx context.Context, id string) error {
	s.wrote("DropReader")
	return s.Store.DropReader(ctx, id)
}

func (s *writeLog) CreateServiceClient(ctx context.Context, c latchkey.ServiceClient) error {
	s.wrote("CreateServiceClient")
	return s.Store.CreateServiceClient(ctx, c)
}

func (s *writeLog) DeleteServiceClient(ctx context.Context, name string) error {
	s.wrote("DeleteServiceClient")
	return s.Store.DeleteServiceClient(ctx, name)
}

// TestVerifierWrites runs a verifier through its life (start, checks that
// miss and hit, uses within an idle timeout, revocations and a disabled
// user read from the change feed, Close) and lists what it wrote: its
// reader record and last-use times, nothing else.
func TestVerifierWrites(t *testing.T) {
	ctx := t.Context()
	db, err := dial.ParseDatabaseURL("database-url", "sqlite:"+filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := dial.OpenStore(ctx, db, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hasher := password.New(password.Options{Params: password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	server := latchkey.NewAuthenticator(st, memory.New(memory.Options{MaxEntries: 10}), hasher, latchkey.Options{})
	pw := latchkey.Password("correct horse battery staple")
	for _, name := range []string{"alice", "bob"} {
		if _, err := server.AddUser(ctx, latchkey.NewUser{Username: name}, pw); err != nil {
			t.Fatal(err)
		}
	}
	var tokens []string
	for _, name := range []string{"alice", "alice", "bob"} {
		is, err := server.Login(ctx, latchkey.LoginRequest{Username: name, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, is.Token.Reveal())
	}

	vst, err := dial.OpenStore(ctx, db, false)
	if err != nil {
		t.Fatal(err)
	}
	w := &writeLog{Store: vst, writes: map[string]int{}}
	cfg := Config{DatabaseURL: "sqlite:x", IdleTimeout: time.Second}
	if _, err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	v, err := start(ctx, w, &dial.Cache{Tokens: memory.New(memory.Options{MaxEntries: 10})}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		for _, tok := range tokens {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	is, err := server.Login(ctx, latchkey.LoginRequest{Username: "alice", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	p, err := server.Authenticate(ctx, is.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Logout(ctx, p, latchkey.LogoutOthers, latchkey.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := server.SetUserActive(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	for _, tok := range tokens {
		if _, err := v.Verify(ctx, tok); err == nil {
			t.Fatal("a revoked token passes")
		}
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := w.names(), []string{"DropReader", "RenewReader", "TouchSessions"}; !slices.Equal(got, want) {
		t.Fatalf("the verifier wrote %v (%v), want %v alone", got, w.writes, want)
	}
}
