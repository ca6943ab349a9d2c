package latchkey

import (
	"context"
	"time"
)

// ChallengeStore keeps the state of a WebAuthn ceremony between its two
// requests (the options, then the browser's answer): in-process for one
// node (cache/memory.Challenges), shared (cache/redis.Challenges) when
// several nodes serve the same users, since the answer may reach another
// node than the options. A challenge is taken once: of two answers to
// one challenge, one is checked, and the other finds nothing (a replay).
type ChallengeStore interface {
	// Put stores value under key until expires, replacing what key held.
	// An error means it could not be stored: the ceremony cannot start.
	Put(ctx context.Context, key string, value []byte, expires time.Time) error
	// Take returns the value under key and deletes it, in one atomic
	// step: of several calls, at most one gets it. ok is false when key
	// holds nothing, or its value expired. An error means the store
	// could not be asked: the caller refuses the answer (fail closed).
	Take(ctx context.Context, key string) (value []byte, ok bool, err error)
}
