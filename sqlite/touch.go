package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// TouchSessions records last use times. A time only moves forward, and
// only once it is minInterval past the stored one; sessions that are gone
// are skipped. Touches are not revocations and write no change entries.
//
// Most touches are of sessions that a cache miss has just read: those
// SessionByDigest found in the last flush or two are updated by their
// rowid (see hints), in rowid order, the others by digest, in digest
// order. At a million sessions, finding a session by its digest reads a
// page of the digest index that the writer's page cache does not hold,
// a random one for each touch (about 16 µs a session here); sessions
// created together share table pages, and the table's interior pages stay
// cached, so finding them by rowid mostly reads nothing.
//
// Each touchChunk sessions go in as one JSON array to one UPDATE, outside
// an explicit transaction (so SQLite keeps no statement journal), and
// logins may write between two chunks. An UPDATE per session through
// database/sql cost some thirteen allocations each, which, once a second
// beside a stream of cache misses, were what those misses' p99 latency
// waited on (BenchmarkTouchSessions, scripts/bench).
func (s *Store) TouchSessions(ctx context.Context, touches map[latchkey.Digest]time.Time, minInterval time.Duration) error {
	if len(touches) == 0 {
		return nil
	}
	cur, old := s.hints.rotate()
	var (
		byRowid  []rowTouch
		byDigest []latchkey.Digest
	)
	for d := range touches {
		id, ok := cur[d]
		if !ok {
			id, ok = old[d]
		}
		if ok {
			byRowid = append(byRowid, rowTouch{rowid: id, digest: d})
		} else {
			byDigest = append(byDigest, d)
		}
	}
	slices.SortFunc(byRowid, func(a, b rowTouch) int { return cmp.Compare(a.rowid, b.rowid) })
	us := minInterval.Microseconds()
	list := make([]byte, 0, 2+min(len(touches), touchChunk)*(2*len(latchkey.Digest{})+48))
	for chunk := range slices.Chunk(byRowid, touchChunk) {
		list = append(list[:0], '[')
		for i, t := range chunk {
			if i > 0 {
				list = append(list, ',')
			}
			list = strconv.AppendInt(append(list, '['), t.rowid, 10)
			list = appendTouch(append(list, ','), t.digest, touches[t.digest])
		}
		res, err := s.w.ExecContext(ctx, touchByRowid, string(append(list, ']')), us)
		if err != nil {
			return fail("touch sessions", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(chunk)) {
			// A session of the chunk was gone, its rowid taken by
			// another, or not due: the chunk again, by digest. What the
			// first pass wrote is not due any more.
			for _, t := range chunk {
				byDigest = append(byDigest, t.digest)
			}
		}
	}
	slices.SortFunc(byDigest, func(a, b latchkey.Digest) int { return bytes.Compare(a[:], b[:]) })
	for chunk := range slices.Chunk(byDigest, touchChunk) {
		list = append(list[:0], '[')
		for i, d := range chunk {
			if i > 0 {
				list = append(list, ',')
			}
			list = appendTouch(append(list, '['), d, touches[d])
		}
		if _, err := s.w.ExecContext(ctx, touchByDigest, string(append(list, ']')), us); err != nil {
			return fail("touch sessions", err)
		}
	}
	return nil
}

// touchChunk is how many sessions one statement of TouchSessions touches:
// some tens of milliseconds of writing.
const touchChunk = 4096

// rowTouch is a touch of the session that SessionByDigest found at rowid.
type rowTouch struct {
	rowid  int64
	digest latchkey.Digest
}

// appendTouch appends `"digest",at]` to a touch's JSON array.
func appendTouch(list []byte, d latchkey.Digest, at time.Time) []byte {
	list = append(list, '"')
	list = hex.AppendEncode(list, d[:])
	list = append(list, `",`...)
	list = strconv.AppendInt(list, micros(at), 10)
	return append(list, ']')
}

// The UPDATEs of TouchSessions: ?1 a JSON array of [digest, time] pairs
// (touchByDigest) or of [rowid, digest, time] triples (touchByRowid), ?2
// the minimum interval. A rowid is only a hint: the row must still hold
// the digest.
const (
	touchByDigest = `UPDATE sessions SET last_used_at = t.at
FROM (SELECT unhex(value->>0) AS digest, value->>1 AS at FROM json_each(?1)) AS t
WHERE sessions.digest = t.digest AND sessions.last_used_at < t.at AND sessions.last_used_at <= t.at - ?2`
	touchByRowid = `UPDATE sessions SET last_used_at = t.at
FROM (SELECT value->>0 AS id, unhex(value->>1) AS digest, value->>2 AS at FROM json_each(?1)) AS t
WHERE sessions.rowid = t.id AND sessions.digest = t.digest
AND sessions.last_used_at < t.at AND sessions.last_used_at <= t.at - ?2`
)

// hints remembers the rowid at which SessionByDigest found each session,
// for the next two calls of TouchSessions: a touch is queued by the cache
// miss that read the session and written within a second, at the next
// flush. A hint is never trusted alone: a session deleted meanwhile may
// have left its rowid to another, which holds another digest.
type hints struct {
	mu       sync.Mutex
	cur, old map[latchkey.Digest]int64
}

// maxHints bounds the hints of one generation (some 3 MiB): past it,
// sessions are touched by digest, as without hints.
const maxHints = 1 << 15

func (h *hints) add(d latchkey.Digest, rowid int64) {
	h.mu.Lock()
	if h.cur == nil {
		h.cur = make(map[latchkey.Digest]int64)
	}
	if len(h.cur) < maxHints {
		h.cur[d] = rowid
	}
	h.mu.Unlock()
}

// rotate returns the hints of the current and the previous generation
// and starts a new one. The maps it returns are never written again.
func (h *hints) rotate() (cur, old map[latchkey.Digest]int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, old = h.cur, h.old
	h.cur, h.old = nil, cur
	return cur, old
}
