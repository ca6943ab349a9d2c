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

// Invalidation is what DeleteSessions, DeleteUser and Purge announce on
// the cache's Channel, so that caches in other processes drop their copies
// (see cache/tiered). Exactly one of its fields is set.
type Invalidation struct {
	All      bool // Purge: drop everything
	Sessions []latchkey.Digest
	Users    []int64
}

// Invalidation messages: one kind byte, then fixed-size keys end to end.
const (
	invalidateAll      = 'a'
	invalidateSessions = 's'
	invalidateUsers    = 'u'
)

func encodeInvalidation(inv Invalidation) string {
	switch {
	case inv.All:
		return string(rune(invalidateAll))
	case len(inv.Sessions) > 0:
		b := make([]byte, 0, 1+len(inv.Sessions)*len(latchkey.Digest{}))
		b = append(b, invalidateSessions)
		for _, d := range inv.Sessions {
			b = append(b, d[:]...)
		}
		return string(b)
	default:
		b := make([]byte, 0, 1+8*len(inv.Users))
		b = append(b, invalidateUsers)
		for _, id := range inv.Users {
			b = binary.BigEndian.AppendUint64(b, uint64(id))
		}
		return string(b)
	}
}

// ParseInvalidation decodes a message received on the cache's Channel. A
// receiver that cannot parse a message must assume it named anything, and
// drop everything.
func ParseInvalidation(msg string) (Invalidation, error) {
	if msg == "" {
		return Invalidation{}, errors.New("redis: empty invalidation")
	}
	body := msg[1:]
	switch msg[0] {
	case invalidateAll:
		if body != "" {
			break
		}
		return Invalidation{All: true}, nil
	case invalidateSessions:
		const size = len(latchkey.Digest{})
		if body == "" || len(body)%size != 0 {
			break
		}
		ds := make([]latchkey.Digest, len(body)/size)
		for i := range ds {
			copy(ds[i][:], body[i*size:])
		}
		return Invalidation{Sessions: ds}, nil
	case invalidateUsers:
		if body == "" || len(body)%8 != 0 {
			break
		}
		ids := make([]int64, len(body)/8)
		for i := range ids {
			ids[i] = int64(binary.BigEndian.Uint64([]byte(body[i*8 : i*8+8])))
		}
		return Invalidation{Users: ids}, nil
	}
	return Invalidation{}, errors.New("redis: malformed invalidation")
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
