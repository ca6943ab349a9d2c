package main

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// TestCrash kills a server with SIGKILL in the middle of a mixed load
// (logins, token checks, logouts, password changes), restarts it on the
// same database, and checks what a client was told before the kill:
// every token whose login or password change answered works, every token
// whose logout or password change answered is refused, each user logs in
// with the password it last set. A request in flight at the kill may have
// committed or not, but wholly: its tokens are all refused or all work, a
// password change's new password works exactly when the tokens it revoked
// are refused, and the database holds no session beyond the one it may
// have created. The database is checked whole after each kill. It runs a
// few rounds of load, kill and restart on each database, the later rounds
// on what the earlier ones left.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "crash.db")
		crash(t, []string{"LATCHKEY_DATABASE_URL=sqlite:" + path}, func(t *testing.T) { sqliteIntact(t, path) })
	})
	t.Run("postgres", func(t *testing.T) {
		u, _ := pgtest.NewSchema(t)
		crash(t, []string{"LATCHKEY_DATABASE_URL=" + u}, func(t *testing.T) { postgresIntact(t, u) })
	})
}

const (
	crashUsers  = 4 // one load worker each
	crashRounds = 3
)

// crash runs the rounds on the database env names; intact checks the
// database while no server runs on it.
func crash(t *testing.T, env []string, intact func(*testing.T)) {
	// The throttle counts every login from 127.0.0.1; a login waits for a
	// hashing slot as long as the load needs.
	env = append(env, throttleEnv...)
	env = append(env, "LATCHKEY_HASH_QUEUE_TIMEOUT=30s")
	users := make([]*crashUser, crashUsers)
	for i := range users {
		users[i] = &crashUser{name: fmt.Sprintf("crash%d", i), password: e2ePassword}
		addUser(t, env, users[i].name)
	}
	c := newClient(t)
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	p := serve(t, env)
	var total crashStats
	for round := 1; round <= crashRounds; round++ {
		// Kill after a number of answers drawn anew each round, so that
		// the kill lands at another point of the requests, on a machine
		// however loaded; then a little later, so that it does not follow
		// an answer at once.
		target := int64(12 + rng.IntN(25))
		var stop atomic.Bool
		var answers atomic.Int64
		var wg sync.WaitGroup
		for _, u := range users {
			u.answers = &answers
			seed := rng.Uint64()
			wg.Go(func() { u.work(t, c, p, &stop, rand.New(rand.NewPCG(seed, uint64(round)))) })
		}
		start := time.Now()
		for answers.Load() < target && time.Since(start) < 30*time.Second {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(rand.N(50 * time.Millisecond))
		stop.Store(true)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		load := time.Since(start)
		err := <-p.done
		p.done <- err // for serve's cleanup
		wg.Wait()

		intact(t)
		p = serve(t, env)
		var st crashStats
		for _, u := range users {
			u.check(t, c, p)
			st.add(u.stats)
			u.stats = crashStats{}
		}
		total.add(st)
		t.Logf("round %d, killed after %v of load: %v", round, load.Round(time.Millisecond), st)
		if t.Failed() {
			t.FailNow()
		}
	}
	out, err := cli(t, env, "", "user", "list")
	if err != nil {
		t.Fatalf("user list after the crashes: %v\n%s", err, out)
	}
	for _, u := range users {
		if !strings.Contains(out, u.name) {
			t.Errorf("user list lacks %s:\n%s", u.name, out)
		}
	}
	t.Logf("%d rounds: %v", crashRounds, total)
}

// crashStats counts what a round did and found.
type crashStats struct {
	requests  int // answered
	issued    int // tokens whose login or password change answered
	revokes   int // logouts and password changes that answered
	revoked   int // tokens they revoked
	failed    int // requests in flight at the kill
	doubt     int // known sessions such a request may have revoked
	committed int // requests in flight at the kill found committed
	lost      int // … and found not committed
}

func (s *crashStats) add(o crashStats) {
	s.requests += o.requests
	s.issued += o.issued
	s.revokes += o.revokes
	s.revoked += o.revoked
	s.failed += o.failed
	s.doubt += o.doubt
	s.committed += o.committed
	s.lost += o.lost
}

func (s crashStats) String() string {
	return fmt.Sprintf("%d requests answered, %d tokens issued, %d revocations acknowledged (%d tokens); "+
		"%d requests failed at the kill, %d sessions in doubt; of the writes in flight %d committed, %d did not",
		s.requests, s.issued, s.revokes, s.revoked, s.failed, s.doubt, s.committed, s.lost)
}

// held is a session of a crash test user as its worker knows it.
type held struct {
	token   string // empty for a session the test found but never got the token of
	id      string
	revoked bool
}

// inFlight is a write whose request failed at the kill: it may have
// committed, or not.
type inFlight struct {
	what     string  // "login", "logout?scope=…" or "password"
	affected []*held // the sessions it revokes if it committed
	password string  // a password change's new password
}

// crashUser is one user of the crash test and everything its worker was
// told: one worker per user, one request at a time, so that a password
// change revokes exactly the sessions the worker holds.
type crashUser struct {
	name     string
	password string
	changes  int // password changes made, for the next new password
	sessions []*held
	pending  *inFlight
	stats    crashStats
	answers  *atomic.Int64 // the answers every worker of the round got
}

func (u *crashUser) live() []*held {
	var hs []*held
	for _, h := range u.sessions {
		if !h.revoked {
			hs = append(hs, h)
		}
	}
	return hs
}

// work runs u's share of the load until stop, or until a request fails:
// the kill. Only an answer changes what u knows.
func (u *crashUser) work(t *testing.T, c *http.Client, p *proc, stop *atomic.Bool, rng *rand.Rand) {
	for !stop.Load() {
		var withToken []*held
		for _, h := range u.live() {
			if h.token != "" {
				withToken = append(withToken, h)
			}
		}
		var ok bool
		switch r := rng.IntN(100); {
		case len(withToken) == 0 || r < 35:
			ok = u.login(t, c, p)
		case r < 60:
			ok = u.me(t, c, p, withToken[rng.IntN(len(withToken))], rng)
		case r < 88:
			scope := []string{"local", "local", "local", "local", "others", "global"}[rng.IntN(6)]
			if scope == "others" && len(u.live()) == 1 {
				scope = "local" // so that every logout revokes a session
			}
			ok = u.logout(t, c, p, withToken[rng.IntN(len(withToken))], scope)
		default:
			ok = u.changePassword(t, c, p, withToken[rng.IntN(len(withToken))])
		}
		if !ok {
			return
		}
	}
}

// answered counts a request's answer, or its failure: true when the
// request answered want.
func (u *crashUser) answered(t *testing.T, what string, a answer, want int) bool {
	if a.err != nil {
		u.stats.failed++
		return false
	}
	u.stats.requests++
	u.answers.Add(1)
	if a.status != want {
		t.Errorf("%s: %s: %v", u.name, what, a)
		return false
	}
	return true
}

func (u *crashUser) login(t *testing.T, c *http.Client, p *proc) bool {
	u.pending = &inFlight{what: "login"}
	a := request(c, p, "POST", "/v1/login", "", map[string]string{"username": u.name, "password": u.password})
	if !u.answered(t, "login", a, http.StatusOK) {
		return false
	}
	u.pending = nil
	u.hold(a)
	u.stats.issued++
	return true
}

// hold records the session of a login's or a password change's answer.
func (u *crashUser) hold(a answer) *held {
	tok, _ := a.body["token"].(string)
	id, _ := a.body["session_id"].(string)
	h := &held{token: tok, id: id}
	u.sessions = append(u.sessions, h)
	return h
}

// me checks h and, now and then, a token revoked before.
func (u *crashUser) me(t *testing.T, c *http.Client, p *proc, h *held, rng *rand.Rand) bool {
	a := request(c, p, "GET", "/v1/me", h.token, nil)
	if !u.answered(t, "me", a, http.StatusOK) {
		return false
	}
	if a.body["username"] != u.name {
		t.Errorf("%s: me: %v", u.name, a)
	}
	for _, old := range u.sessions {
		if old.revoked && old.token != "" && rng.IntN(4) == 0 {
			a := request(c, p, "GET", "/v1/me", old.token, nil)
			if !u.answered(t, "me with a revoked token", a, http.StatusUnauthorized) {
				return false
			}
			if !a.refused() {
				t.Errorf("%s: me with a revoked token: %v", u.name, a)
			}
			break
		}
	}
	return true
}

func (u *crashUser) logout(t *testing.T, c *http.Client, p *proc, h *held, scope string) bool {
	var affected []*held
	for _, s := range u.live() {
		if scope == "global" || (s == h) == (scope == "local") {
			affected = append(affected, s)
		}
	}
	u.pending = &inFlight{what: "logout?scope=" + scope, affected: affected}
	a := request(c, p, "POST", "/v1/logout?scope="+scope, h.token, nil)
	if !u.answered(t, "logout", a, http.StatusNoContent) {
		return false
	}
	u.pending = nil
	u.revoke(affected)
	return true
}

func (u *crashUser) revoke(hs []*held) {
	for _, h := range hs {
		h.revoked = true
	}
	u.stats.revokes++
	u.stats.revoked += len(hs)
}

func (u *crashUser) changePassword(t *testing.T, c *http.Client, p *proc, h *held) bool {
	next := fmt.Sprintf("%s's passphrase number %d", u.name, u.changes+1)
	u.pending = &inFlight{what: "password", affected: u.live(), password: next}
	a := request(c, p, "POST", "/v1/password", h.token, map[string]string{"old_password": u.password, "new_password": next})
	if !u.answered(t, "password change", a, http.StatusOK) {
		return false
	}
	u.pending = nil
	u.revoke(u.live())
	u.hold(a)
	u.stats.issued++
	u.password, u.changes = next, u.changes+1
	return true
}

// check asks the restarted server p about everything u was told, settles
// the request u had in flight at the kill from what p answers, and
// records the sessions the database holds that u never got the token of.
func (u *crashUser) check(t *testing.T, c *http.Client, p *proc) {
	t.Helper()
	works := map[*held]bool{}
	for _, h := range u.sessions {
		if h.token == "" {
			continue
		}
		a := request(c, p, "GET", "/v1/me", h.token, nil)
		switch {
		case a.status == http.StatusOK && a.body["username"] == u.name:
			works[h] = true
		case a.refused():
		default:
			t.Fatalf("%s: me after the restart: %v", u.name, a)
		}
	}

	// Exactly one of the passwords u may have logs in.
	pf := u.pending
	candidates := []string{u.password}
	if pf != nil && pf.what == "password" {
		candidates = append(candidates, pf.password)
	}
	var in []string
	var fresh *held
	for _, pw := range candidates {
		a := request(c, p, "POST", "/v1/login", "", map[string]string{"username": u.name, "password": pw})
		switch {
		case a.status == http.StatusOK:
			in = append(in, pw)
			fresh = u.hold(a)
			works[fresh] = true
		case a.status == http.StatusUnauthorized && a.code() == "invalid_credentials":
		default:
			t.Fatalf("%s: login after the restart: %v", u.name, a)
		}
	}
	if len(in) != 1 {
		t.Fatalf("%s: %d of the passwords %q log in after the restart, want one", u.name, len(in), candidates)
	}

	a := request(c, p, "GET", "/v1/sessions", fresh.token, nil)
	if a.status != http.StatusOK {
		t.Fatalf("%s: sessions after the restart: %v", u.name, a)
	}
	listed := map[string]bool{}
	for _, s := range a.body["sessions"].([]any) {
		listed[s.(map[string]any)["id"].(string)] = true
	}
	// gone says whether the restarted server holds h revoked: by its token
	// when the test has it, else by the list.
	gone := func(h *held) bool {
		if h.token != "" {
			return !works[h]
		}
		return !listed[h.id]
	}
	var inDoubt []*held
	if pf != nil {
		inDoubt = pf.affected
	}
	u.stats.doubt += len(inDoubt)
	for _, h := range u.sessions {
		if !slices.Contains(inDoubt, h) && gone(h) != h.revoked {
			t.Errorf("%s: session %s (token known: %t) revoked %t before the kill, %t after the restart",
				u.name, h.id, h.token != "", h.revoked, gone(h))
		}
	}
	unknown := 0
	for id := range listed {
		if !slices.ContainsFunc(u.sessions, func(h *held) bool { return h.id == id }) {
			unknown++
			u.sessions = append(u.sessions, &held{id: id})
		}
	}

	// The request in flight committed wholly or not at all: every session
	// it revokes agrees, and so do the password that logs in and the
	// session it would create.
	if pf != nil {
		var committed bool
		switch pf.what {
		case "login":
			committed = unknown == 1
		case "password":
			committed = in[0] == pf.password
		default:
			committed = gone(inDoubt[0])
		}
		for _, h := range inDoubt {
			if gone(h) != committed {
				t.Errorf("%s: %s in flight at the kill: session %s revoked %t, but committed %t",
					u.name, pf.what, h.id, gone(h), committed)
			}
			h.revoked = committed
		}
		if committed {
			u.stats.committed++
		} else {
			u.stats.lost++
		}
		if committed && pf.what == "password" {
			u.password, u.changes = pf.password, u.changes+1
		}
		if want := map[bool]int{false: 0, true: 1}[committed && (pf.what == "login" || pf.what == "password")]; unknown != want {
			t.Errorf("%s: %s in flight at the kill, committed %t: %d sessions the test never got the token of, want %d",
				u.name, pf.what, committed, unknown, want)
		}
		u.pending = nil
	} else if unknown != 0 {
		t.Errorf("%s: %d sessions the test never got the token of, and no login was in flight", u.name, unknown)
	}
	// Forget what is settled for good.
	u.sessions = slices.DeleteFunc(u.sessions, func(h *held) bool { return h.revoked && h.token == "" })
}

// sqliteIntact checks a copy of the database file and its write-ahead log
// as the kill left them (the server's restart recovers the original): the
// copy opens, passes SQLite's integrity and foreign key checks, and has
// every migration.
func sqliteIntact(t *testing.T, path string) {
	t.Helper()
	dir := t.TempDir()
	// Not the -shm file: SQLite rebuilds that index from the log.
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "copy.db"+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check after the kill: %q %v", ok, err)
	}
	rows, err := db.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Fatal("foreign_key_check after the kill found a session without its user")
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	tablesIntact(t, "../../sqlite", func(q string, v ...any) error { return db.QueryRowContext(ctx, q).Scan(v...) })
}

// postgresIntact checks the schema at u: every migration is recorded, and
// the tables can be read whole.
func postgresIntact(t *testing.T, u string) {
	t.Helper()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tablesIntact(t, "../../postgres", func(q string, v ...any) error { return pool.QueryRow(ctx, q).Scan(v...) })
}

// tablesIntact checks, through query, that the schema has every migration
// of the store in dir, and reads every table whole: each session's user
// exists, and no digest is there twice.
func tablesIntact(t *testing.T, dir string, query func(q string, v ...any) error) {
	t.Helper()
	ms, err := latchkey.LoadMigrations(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	var n, newest int64
	if err := query(`SELECT count(*), max(version) FROM schema_migrations`, &n, &newest); err != nil {
		t.Fatalf("migrations after the kill: %v", err)
	}
	if want := ms[len(ms)-1].Version; n != int64(len(ms)) || newest != want {
		t.Fatalf("after the kill: %d migrations up to %d, want %d up to %d", n, newest, len(ms), want)
	}
	for _, q := range []string{
		`SELECT count(*) FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE u.id IS NULL`,
		`SELECT count(*) - count(DISTINCT digest) FROM sessions`,
		`SELECT count(*) - count(DISTINCT username) FROM users`,
		`SELECT count(*) FROM changes c LEFT JOIN users u ON u.id = c.user_id WHERE u.id IS NULL`,
		`SELECT count(*) - count(DISTINCT id) FROM readers`,
	} {
		var bad int64
		if err := query(q, &bad); err != nil {
			t.Fatalf("after the kill: %s: %v", q, err)
		}
		if bad != 0 {
			t.Errorf("after the kill: %s: %d", q, bad)
		}
	}
}
