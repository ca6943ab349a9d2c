package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkeyhq/latchkey"
)

// Subscription receives the invalidations that every process sharing the
// cache announces on its channel, this one's included, for a local layer
// in front of the cache to apply (cache/tiered). It owns the wire format
// both ways: the layer sees latchkey.Invalidation values, never Redis
// messages.
type Subscription struct {
	ps      *goredis.PubSub
	channel string
}

// Subscribe returns a subscription to the cache's invalidation channel,
// on a connection of its own. It makes no I/O until Start.
func (c *Cache) Subscribe(ctx context.Context) *Subscription {
	return &Subscription{ps: c.client.Subscribe(ctx), channel: c.channel}
}

// Channel returns the channel's name, for logs.
func (s *Subscription) Channel() string { return s.channel }

// Start subscribes. The first event Receive then returns is
// EventSubscribed, from which on every invalidation published arrives.
func (s *Subscription) Start(ctx context.Context) error {
	return s.ps.Subscribe(ctx, s.channel)
}

// EventKind says what a Subscription received.
type EventKind uint8

const (
	// EventSubscribed: the subscription is confirmed.
	EventSubscribed EventKind = iota + 1
	// EventInvalidation: a process announced Event.Invalidation.
	EventInvalidation
	// EventPong: Redis answered Ping.
	EventPong
)

// Event is one thing a Subscription received.
type Event struct {
	Kind EventKind
	// Invalidation is what an EventInvalidation names. A message that
	// cannot be parsed (a kind from a later version, say) reads as
	// Invalidation{All: true}: it may have named anything.
	Invalidation latchkey.Invalidation
}

// Receive waits at most timeout for the next event. Its errors are the
// connection's: a silent connection's is a net.Error whose Timeout() is
// true, which a Ping should then answer.
func (s *Subscription) Receive(ctx context.Context, timeout time.Duration) (Event, error) {
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, timeout)
		if err != nil {
			return Event{}, err
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind != "subscribe" || m.Channel != s.channel {
				return Event{}, fmt.Errorf("unexpected %s of %q", m.Kind, m.Channel)
			}
			return Event{Kind: EventSubscribed}, nil
		case *goredis.Message:
			inv, err := parseInvalidation(m.Payload)
			if err != nil {
				inv = latchkey.Invalidation{All: true}
			}
			return Event{Kind: EventInvalidation, Invalidation: inv}, nil
		case *goredis.Pong:
			return Event{Kind: EventPong}, nil
		}
	}
}

// Ping asks Redis for an EventPong on the subscription's connection.
func (s *Subscription) Ping(ctx context.Context) error { return s.ps.Ping(ctx) }

// Close ends the subscription; a Receive in progress returns an error.
func (s *Subscription) Close() error { return s.ps.Close() }
