package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
)

// The tests here show that the change feed is read in commit order: a
// reader that advanced past a seq never finds a smaller one later.

// insertChange inserts a change entry the way a writer that ignored the
// change feed lock would, and returns its seq.
func insertChange(t *testing.T, tx pgx.Tx, userID int64) int64 {
	t.Helper()
	var seq int64
	err := tx.QueryRow(t.Context(), `INSERT INTO changes (user_id, session) VALUES ($1, false) RETURNING seq`, userID).Scan(&seq)
	if err != nil {
		t.Fatalf("insert change: %v", err)
	}
	return seq
}

func seqs(cs []latchkey.Change) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.Seq)
	}
	return out
}

func mustChanges(t *testing.T, s *postgres.Store, after int64) []latchkey.Change {
	t.Helper()
	cs, err := s.Changes(t.Context(), after, 10_000)
	if err != nil {
		t.Fatalf("Changes(%d): %v", after, err)
	}
	return cs
}

// TestSequenceIsNotCommitOrder shows the hazard the change feed lock
// exists for, with two writers that do not take it: A draws seq a, B draws
// b > a and commits first; a reader advances to b, and when A commits, its
// entry lies behind the reader for ever.
func TestSequenceIsNotCommitOrder(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	txA, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatalf("Begin A: %v", err)
	}
	defer txA.Rollback(context.Background())
	txB, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatalf("Begin B: %v", err)
	}
	defer txB.Rollback(context.Background())

	a := insertChange(t, txA, 1)
	b := insertChange(t, txB, 2)
	if b <= a {
		t.Fatalf("B drew seq %d after A's %d", b, a)
	}
	if err := txB.Commit(ctx); err != nil {
		t.Fatalf("Commit B: %v", err)
	}
	if got := seqs(mustChanges(t, s, 0)); !slices.Equal(got, []int64{b}) {
		t.Fatalf("reader sees %v, want [%d]: B committed, A did not", got, b)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatalf("Commit A: %v", err)
	}
	if got := mustChanges(t, s, b); len(got) != 0 {
		t.Fatalf("reader at %d sees %v", b, seqs(got))
	}
	t.Logf("without the lock, a reader at seq %d never sees seq %d, committed after it", b, a)
}

// TestChangeLockOrdersCommits runs two writes through the Store: A
// (SetActive) takes the change feed lock and is then held up mid-write by
// a row lock; B (DeleteSession, another user, another Store) must wait for
// A to commit before it draws a seq. A reader following the feed
// throughout never sees B's entry without A's.
func TestChangeLockOrdersCommits(t *testing.T) {
	u, schema := pgtest.NewSchema(t)
	s := openMigrated(t, u)
	appA, appB := "a_"+schema, "b_"+schema
	sa := openMigrated(t, pgtest.WithParam(t, u, "application_name", appA))
	sb := openMigrated(t, pgtest.WithParam(t, u, "application_name", appB))
	ctx := t.Context()

	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	login(t, s, alice, "alice1")
	bobs := login(t, s, bob, "bob1")
	start, err := s.LastChange(ctx)
	if err != nil {
		t.Fatalf("LastChange: %v", err)
	}

	// The reader polls the feed as the Authenticator does.
	stopReader := follow(t, s, start)

	// X holds alice's row, so A stops after taking the change feed lock.
	x, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer x.Rollback(context.Background())
	if _, err := x.Exec(ctx, `SELECT FROM users WHERE id = $1 FOR UPDATE`, alice.ID); err != nil {
		t.Fatalf("lock alice: %v", err)
	}

	type result struct {
		ds  []latchkey.Digest
		err error
	}
	doneA, doneB := make(chan result, 1), make(chan result, 1)
	go func() {
		ds, err := sa.SetActive(ctx, alice.ID, false)
		doneA <- result{ds, err}
	}()
	waitFor(t, s, "A holds the change feed lock and waits for alice's row", `SELECT
    EXISTS (SELECT FROM pg_locks JOIN pg_stat_activity USING (pid)
        WHERE application_name = $1 AND locktype = 'advisory' AND granted
        AND classid::bigint = $2 AND objid::bigint = (hashtext($3)::bigint & 4294967295) AND objsubid = 2)
    AND EXISTS (SELECT FROM pg_stat_activity
        WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event <> 'advisory')`,
		appA, postgres.LockChanges, schema)

	go func() {
		d, err := sb.DeleteSession(ctx, bob.ID, bobs.ID, base)
		doneB <- result{[]latchkey.Digest{d}, err}
	}()
	waitFor(t, s, "B waits for the change feed lock", `SELECT EXISTS (
    SELECT FROM pg_locks JOIN pg_stat_activity USING (pid)
    WHERE application_name = $1 AND locktype = 'advisory' AND NOT granted
    AND classid::bigint = $2 AND objid::bigint = (hashtext($3)::bigint & 4294967295) AND objsubid = 2)`,
		appB, postgres.LockChanges, schema)

	select {
	case r := <-doneA:
		t.Fatalf("A returned (%v) while alice's row was locked", r.err)
	case r := <-doneB:
		t.Fatalf("B returned (%v) while A held the change feed lock", r.err)
	default:
	}
	if got := mustChanges(t, s, start); len(got) != 0 {
		t.Fatalf("feed has %v while A and B are uncommitted", seqs(got))
	}

	if err := x.Commit(ctx); err != nil {
		t.Fatalf("Commit X: %v", err)
	}
	ra, rb := <-doneA, <-doneB
	if ra.err != nil || rb.err != nil {
		t.Fatalf("A: %v; B: %v", ra.err, rb.err)
	}
	seen := stopReader()
	all := mustChanges(t, s, start)
	var maxA, minB int64 = 0, 1 << 62
	for _, c := range all {
		switch c.UserID {
		case alice.ID:
			maxA = max(maxA, c.Seq)
		case bob.ID:
			minB = min(minB, c.Seq)
		}
	}
	if len(all) != 3 || maxA == 0 || minB == 1<<62 {
		t.Fatalf("feed after A and B: %+v; want alice's session and user entries and bob's session", all)
	}
	if maxA >= minB {
		t.Errorf("A's entries reach seq %d, B's start at %d: B drew a seq before A committed", maxA, minB)
	}
	if !slices.Equal(seqs(seen), seqs(all)) {
		t.Errorf("reader saw seqs %v, feed has %v", seqs(seen), seqs(all))
	}
}

// follow starts a reader of s's change feed from start that reads as fast
// as it can, advancing to the newest seq it got, as the Authenticator does.
// The returned function stops it, after one last read, and returns every
// entry it got, in order.
func follow(t *testing.T, s *postgres.Store, start int64) (stop func() []latchkey.Change) {
	t.Helper()
	var (
		seen []latchkey.Change
		quit = make(chan struct{})
		done = make(chan struct{})
		once sync.Once
	)
	go func() {
		defer close(done)
		after := start
		for last := false; !last; {
			select {
			case <-quit:
				last = true
			default:
			}
			cs, err := s.Changes(t.Context(), after, 1000)
			if t.Context().Err() != nil {
				return // the test failed elsewhere
			}
			if err != nil {
				t.Errorf("reader: Changes(%d): %v", after, err)
				return
			}
			for _, c := range cs {
				if c.Seq <= after {
					t.Errorf("reader: Changes(%d) returned seq %d", after, c.Seq)
				}
				after = c.Seq
			}
			seen = append(seen, cs...)
		}
	}()
	stop = func() []latchkey.Change {
		once.Do(func() { close(quit) })
		<-done
		return seen
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFor polls query (a boolean) until it is true: a condition of the
// server, such as a backend waiting for a lock. It is not a stopwatch: the
// deadline only ends a test that would otherwise hang.
func waitFor(t *testing.T, s *postgres.Store, what, query string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok bool
		if err := s.Pool().QueryRow(t.Context(), query, args...).Scan(&ok); err != nil {
			t.Fatalf("waiting until %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChangeFeedSkipsNothing runs many writers on two Stores against a
// reader that follows the feed as fast as it can: whatever the interleaving
// of their commits, the reader sees every entry.
func TestChangeFeedSkipsNothing(t *testing.T) {
	u, _ := pgtest.NewSchema(t)
	stores := []*postgres.Store{openMigrated(t, u), openMigrated(t, u)}
	reader := openMigrated(t, u)
	ctx := t.Context()

	const writers, rounds = 8, 25
	users := make([]latchkey.User, writers)
	for i := range users {
		users[i] = mustUser(t, reader, fmt.Sprintf("user%d", i))
	}
	start, err := reader.LastChange(ctx)
	if err != nil {
		t.Fatalf("LastChange: %v", err)
	}

	stopReader := follow(t, reader, start)
	var wg sync.WaitGroup
	for i, u := range users {
		s := stores[i%len(stores)]
		wg.Go(func() {
			for r := range rounds {
				in := session(u, fmt.Sprintf("u%d-r%d", i, r))
				if err := s.CreateSession(ctx, in, latchkey.LoginUpdate{ExpectHash: u.PasswordHash, LastLogin: base}); err != nil {
					t.Errorf("CreateSession: %v", err)
					return
				}
				if _, err := s.DeleteSession(ctx, u.ID, in.ID, base); err != nil {
					t.Errorf("DeleteSession: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := seqs(stopReader())

	all := seqs(mustChanges(t, reader, start))
	if len(all) != 2*writers*rounds {
		t.Errorf("feed has %d entries, want %d", len(all), 2*writers*rounds)
	}
	if !slices.Equal(seen, all) {
		missed := 0
		for _, seq := range all {
			if !slices.Contains(seen, seq) {
				missed++
			}
		}
		t.Errorf("reader saw %d entries of %d, missed %d", len(seen), len(all), missed)
	}
}
