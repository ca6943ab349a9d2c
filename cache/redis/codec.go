package redis

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Values are small fixed-field binary records rather than JSON: a session
// is 33 bytes plus its id, decoded with no reflection and no allocation
// besides the strings. Every record starts with a version byte, so that a
// later layout can be told apart (an unknown version reads as malformed,
// which callers treat as a miss).
//
// Times are unix microseconds, the precision every store keeps, written as
// big-endian uint64 with the sign bit flipped: the byte strings then sort
// as the times do, which lets the touch script compare them byte by byte,
// exactly, without Lua's floating-point numbers.

const (
	sessionVersion = 1
	userVersion    = 1

	// sessionFixed is the size of a session record before its id.
	sessionFixed = 1 + 8 + 3*8
	// lastUsedOffset is where LastUsedAt sits in a session record.
	lastUsedOffset = 1 + 8 + 2*8

	// userFixed is the size of a user record before its strings.
	userFixed = 1 + 1 + 2*8
)

var errMalformed = errors.New("malformed entry")

// putTime appends t as a sortable 8-byte field.
func putTime(b []byte, t time.Time) []byte {
	return putMicro(b, t.UnixMicro())
}

func putMicro(b []byte, us int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(us)^(1<<63))
}

func getTime(b []byte) time.Time {
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b) ^ (1 << 63))).UTC()
}

// encodeSession returns the record for s.
func encodeSession(s latchkey.CachedSession) []byte {
	b := make([]byte, 0, sessionFixed+len(s.SessionID))
	b = append(b, sessionVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(s.UserID))
	b = putTime(b, s.CreatedAt)
	b = putTime(b, s.ExpiresAt)
	b = putTime(b, s.LastUsedAt)
	return append(b, s.SessionID...)
}

// decodeSession is the inverse of encodeSession.
func decodeSession(b []byte) (latchkey.CachedSession, error) {
	if len(b) < sessionFixed || b[0] != sessionVersion {
		return latchkey.CachedSession{}, errMalformed
	}
	return latchkey.CachedSession{
		UserID:     int64(binary.BigEndian.Uint64(b[1:])),
		CreatedAt:  getTime(b[9:]),
		ExpiresAt:  getTime(b[17:]),
		LastUsedAt: getTime(b[25:]),
		SessionID:  string(b[sessionFixed:]),
	}, nil
}

// encodeUser returns the record for u, without its id (the key) and
// without its password hash, which is never cached. The four strings
// follow the fixed fields, each after its length as a uvarint.
func encodeUser(u latchkey.User) []byte {
	n := userFixed + 4*binary.MaxVarintLen32 + len(u.Username) + len(u.Email) + len(u.FirstName) + len(u.LastName)
	b := make([]byte, 0, n)
	b = append(b, userVersion)
	if u.Active {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = putTime(b, u.LastLogin)
	b = putTime(b, u.DateJoined)
	for _, s := range [...]string{u.Username, u.Email, u.FirstName, u.LastName} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decodeUser is the inverse of encodeUser.
func decodeUser(id int64, b []byte) (latchkey.User, error) {
	if len(b) < userFixed || b[0] != userVersion || b[1] > 1 {
		return latchkey.User{}, errMalformed
	}
	u := latchkey.User{
		ID:         id,
		Active:     b[1] == 1,
		LastLogin:  getTime(b[2:]),
		DateJoined: getTime(b[10:]),
	}
	rest := b[userFixed:]
	var fields [4]string
	for i := range fields {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return latchkey.User{}, errMalformed
		}
		fields[i] = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 {
		return latchkey.User{}, errMalformed
	}
	u.Username, u.Email, u.FirstName, u.LastName = fields[0], fields[1], fields[2], fields[3]
	return u, nil
}

// Invalidation messages, announced on the cache's channel so that caches
// in other processes drop their copies (see cache/tiered): one kind byte,
// then fixed-size fields end to end. One invalidation is one message.
//
// Kinds are append-only. A receiver that does not know a kind, or cannot
// parse a message, must assume it named anything and drop everything:
// that is what every version has done, so that a node still running the
// previous version during a rolling upgrade purges its local layer on a
// kind it does not know rather than ignore it. The kinds the first
// version knew ('a', 's', 'u') are still sent for the invalidations they
// can say, so that such a node drops exactly those entries.
const (
	invalidateAll      = 'a' // nothing follows
	invalidateSessions = 's' // digests
	invalidateUsers    = 'u' // user ids, 8 bytes each, big-endian
	// invalidateBoth (since the second version) is sessions and users in
	// one message: a 4-byte big-endian count of digests, the digests,
	// then the user ids.
	invalidateBoth = 'b'
)

const digestSize = len(latchkey.Digest{})

// encodeInvalidation returns the message for inv, which names something.
func encodeInvalidation(inv latchkey.Invalidation) string {
	if inv.All {
		return string(rune(invalidateAll))
	}
	b := make([]byte, 0, 1+4+len(inv.Sessions)*digestSize+8*len(inv.Users))
	switch {
	case len(inv.Users) == 0:
		b = append(b, invalidateSessions)
	case len(inv.Sessions) == 0:
		b = append(b, invalidateUsers)
	default:
		b = append(b, invalidateBoth)
		b = binary.BigEndian.AppendUint32(b, uint32(len(inv.Sessions)))
	}
	for _, d := range inv.Sessions {
		b = append(b, d[:]...)
	}
	for _, id := range inv.Users {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
	}
	return string(b)
}

// errMalformedInvalidation reports a message parseInvalidation cannot
// read; the receiver must then drop everything.
var errMalformedInvalidation = errors.New("redis: malformed invalidation")

// parseInvalidation decodes a message received on the cache's channel.
func parseInvalidation(msg string) (latchkey.Invalidation, error) {
	if msg == "" {
		return latchkey.Invalidation{}, errMalformedInvalidation
	}
	body := msg[1:]
	switch msg[0] {
	case invalidateAll:
		if body == "" {
			return latchkey.Invalidation{All: true}, nil
		}
	case invalidateSessions:
		if ds, ok := parseDigests(body); ok && len(ds) > 0 {
			return latchkey.Invalidation{Sessions: ds}, nil
		}
	case invalidateUsers:
		if ids, ok := parseIDs(body); ok && len(ids) > 0 {
			return latchkey.Invalidation{Users: ids}, nil
		}
	case invalidateBoth:
		if len(body) < 4 {
			break
		}
		n := uint64(binary.BigEndian.Uint32([]byte(body[:4])))
		body = body[4:]
		if n == 0 || n*uint64(digestSize) >= uint64(len(body)) {
			break
		}
		ds, ok1 := parseDigests(body[:n*uint64(digestSize)])
		ids, ok2 := parseIDs(body[n*uint64(digestSize):])
		if ok1 && ok2 {
			return latchkey.Invalidation{Sessions: ds, Users: ids}, nil
		}
	}
	return latchkey.Invalidation{}, errMalformedInvalidation
}

// parseDigests reads digests end to end.
func parseDigests(b string) ([]latchkey.Digest, bool) {
	if len(b)%digestSize != 0 {
		return nil, false
	}
	ds := make([]latchkey.Digest, len(b)/digestSize)
	for i := range ds {
		copy(ds[i][:], b[i*digestSize:])
	}
	return ds, true
}

// parseIDs reads 8-byte big-endian user ids end to end.
func parseIDs(b string) ([]int64, bool) {
	if len(b)%8 != 0 {
		return nil, false
	}
	ids := make([]int64, len(b)/8)
	for i := range ids {
		ids[i] = int64(binary.BigEndian.Uint64([]byte(b[i*8 : i*8+8])))
	}
	return ids, true
}

// expireAtMillis rounds t down to the millisecond, for PXAT: an entry then
// never outlives the token it stands for.
func expireAtMillis(t time.Time) int64 { return t.UnixMilli() }

// claimAtMillis rounds t up to the millisecond, for a claim's PXAT: a
// replay guard must hold at least until the thing it guards expires.
func claimAtMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}
