// Package tiered is the token cache for several latchkey processes that
// share a Redis: a small cache/memory layer in this process, in front of
// the shared cache/redis one, so that a valid token usually costs neither
// a Redis round trip nor a store query.
//
// Reads try the local layer, then Redis, and fill the local layer from
// what Redis returned. Writes go to both. Invalidations go to both and
// are announced on the Redis cache's channel, one message each; every
// process's subscriber (redis.Subscription) applies them to its local
// layer, its own included, typically within a millisecond.
//
// The local layer is only trusted while the subscription is known to be
// healthy: subscribed, and either receiving or answering pings. Until it
// is, after it is lost, and while Redis is down, the local layer answers
// nothing: reads go to Redis, and when Redis fails they return its error,
// which the Authenticator treats as a miss and answers from the store. On
// every (re)subscription the local layer is purged before it is trusted
// again, since invalidations may have been missed meanwhile.
//
// A fill from Redis races invalidations: a read may fetch an entry from
// Redis just before another process deletes it, and the deletion's message
// may be applied before the fill. Each fill therefore carries the
// generation of its key's stripe, read before the Redis round trip, and is
// dropped if an invalidation of that stripe (or a purge, or a loss of the
// subscription) came in between.
package tiered

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/cache/redis"
)

// Defaults for Options.
const (
	DefaultMaxEntries  = 100_000
	DefaultHealthCheck = time.Second
	DefaultEchoWait    = 50 * time.Millisecond
)

// Options configures a Cache. Zero values take the defaults.
type Options struct {
	// MaxEntries bounds the local layer's sessions, and separately its
	// users; default DefaultMaxEntries.
	MaxEntries int
	// HealthCheck is how long the subscription may stay silent before the
	// subscriber pings Redis on it; an answer that takes as long again
	// means the subscription is lost. A silently broken connection (a
	// network partition) thus stops the local layer within twice this;
	// one that breaks outright (Redis stopped, connection reset) at once.
	// Default DefaultHealthCheck.
	HealthCheck time.Duration
	// EchoWait bounds how long Invalidate waits, while the subscription is
	// live, for its announcement to come back to this process from Redis. Redis sends a message to every subscriber
	// at once, so once it is back every other process has been sent it
	// too, and a client told of a revocation (a logout's 204) almost
	// never finds the token still accepted by another node in the
	// instant after. Default DefaultEchoWait.
	EchoWait time.Duration
	// Logger receives one line when invalidations stop arriving (the
	// local layer is then off) and one when they arrive again. Redis
	// command failures are logged by the redis.Cache's own Logger.
	Logger *slog.Logger
}

// Cache is a latchkey.Cache: a local layer in front of a shared Redis
// one, kept coherent by Redis pub/sub. It is safe for use by many
// goroutines. Create it with New, then Start its subscriber; until the
// subscriber is subscribed every read goes to Redis.
type Cache struct {
	local  *memory.Cache
	remote *redis.Cache
	opt    Options

	// live is set while the subscription is known to be healthy, and
	// only after the local layer was purged for it.
	live atomic.Bool

	stripes [stripes]stripe

	// Waiters for the echo of this process's own invalidations.
	sessionEchoes echoes[latchkey.Digest]
	userEchoes    echoes[int64]
	echoed        atomic.Int64 // waits that heard their echo
	unechoed      atomic.Int64 // waits that ended without it

	mu     sync.Mutex // guards what follows
	onLoss []func()   // told when a live subscription is lost
	cancel context.CancelFunc
	sub    *redis.Subscription
	done   chan struct{}
	closed bool
}

var (
	_ latchkey.Cache        = (*Cache)(nil)
	_ latchkey.LossReporter = (*Cache)(nil)
)

// stripes is the number of fill generations, a power of two: enough that
// a revocation of one key rarely spoils a concurrent fill of another.
const stripes = 256

// stripe serialises the local fills and invalidations of its keys, and
// counts the invalidations.
type stripe struct {
	stripeState
	_ [128 - unsafe.Sizeof(stripeState{})%128]byte
}

type stripeState struct {
	mu  sync.Mutex
	gen atomic.Uint64 // changed only with mu held
}

// New returns a cache with a local layer in front of remote. The local
// layer checks expiry on remote's clock. remote stays the caller's to
// close.
func New(remote *redis.Cache, opts Options) *Cache {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.HealthCheck <= 0 {
		opts.HealthCheck = DefaultHealthCheck
	}
	if opts.EchoWait <= 0 {
		opts.EchoWait = DefaultEchoWait
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Cache{
		local:  memory.New(memory.Options{MaxEntries: opts.MaxEntries, Now: remote.Now}),
		remote: remote,
		opt:    opts,
	}
}

// Start starts the subscriber, which runs until ctx ends or Close is
// called. It returns at once; Live reports when the local layer is on.
func (c *Cache) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil || c.closed {
		return
	}
	ctx, c.cancel = context.WithCancel(ctx)
	c.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { c.subscriber(ctx) })
	wg.Go(func() { c.settler(ctx) })
	go func() {
		wg.Wait()
		close(c.done)
	}()
}

// Close stops the subscriber and waits for it. The local layer is off
// afterwards; the cache still answers from Redis.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	done := c.done
	if c.cancel != nil {
		c.cancel()
	}
	if c.sub != nil {
		// Interrupts a receive in progress.
		c.sub.Close()
	}
	c.mu.Unlock()
	if done != nil {
		<-done
	}
	c.live.Store(false)
	return nil
}

// OnLoss implements latchkey.LossReporter: fn is called when a live
// subscription is lost, and when calls to Redis start failing (see
// redis.Cache.OnLoss). Either may mean that Redis failed over to a
// replica or restarted, and so lost deletes it had acknowledged.
func (c *Cache) OnLoss(fn func()) {
	c.remote.OnLoss(fn)
	c.mu.Lock()
	c.onLoss = append(c.onLoss, fn)
	c.mu.Unlock()
}

// reportLoss calls the OnLoss functions.
func (c *Cache) reportLoss() {
	c.mu.Lock()
	fns := c.onLoss
	c.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Live reports whether the local layer answers: the subscription is
// healthy, as far as the subscriber knows.
func (c *Cache) Live() bool { return c.live.Load() }

// Len returns how many sessions and users the local layer holds (see
// memory.Cache.Len), for metrics.
func (c *Cache) Len() (sessions, users int) { return c.local.Len() }

func (c *Cache) sessionStripe(d latchkey.Digest) *stripe {
	return &c.stripes[d[1]&(stripes-1)]
}

func (c *Cache) userStripe(id int64) *stripe {
	z := uint64(id) * 0x9e3779b97f4a7c15
	return &c.stripes[(z>>56)&(stripes-1)]
}

// Session returns the local entry when the local layer is live, else the
// Redis one, which then fills the local layer. Errors are Redis's.
func (c *Cache) Session(ctx context.Context, d latchkey.Digest) (latchkey.CachedSession, bool, error) {
	if c.live.Load() {
		if s, ok, _ := c.local.Session(ctx, d); ok {
			return s, true, nil
		}
	}
	return c.remoteSession(ctx, d)
}

func (c *Cache) remoteSession(ctx context.Context, d latchkey.Digest) (latchkey.CachedSession, bool, error) {
	st := c.sessionStripe(d)
	gen := st.gen.Load()
	s, ok, err := c.remote.Session(ctx, d)
	if err != nil || !ok {
		return s, ok, err
	}
	c.fillSession(st, gen, d, s)
	return s, true, nil
}

// fillSession puts s into the local layer unless the layer is off or d's
// stripe saw an invalidation since gen was read.
func (c *Cache) fillSession(st *stripe, gen uint64, d latchkey.Digest, s latchkey.CachedSession) {
	st.mu.Lock()
	if st.gen.Load() == gen && c.live.Load() {
		c.local.PutSession(context.Background(), d, s)
	}
	st.mu.Unlock()
}

// PutSession writes s to Redis and to the local layer. A write Redis does
// not take only costs later misses elsewhere, so it is not an error here
// (the redis.Cache logs the outage once).
func (c *Cache) PutSession(ctx context.Context, d latchkey.Digest, s latchkey.CachedSession) error {
	st := c.sessionStripe(d)
	gen := st.gen.Load()
	c.remote.PutSession(ctx, d, s)
	c.fillSession(st, gen, d, s)
	return nil
}

// TouchSession moves an existing entry's LastUsedAt forward in both
// layers; it never creates one. Other processes' local layers keep the
// time they had, which only makes them touch sooner.
func (c *Cache) TouchSession(ctx context.Context, d latchkey.Digest, at time.Time) error {
	c.local.TouchSession(ctx, d, at)
	c.remote.TouchSession(ctx, d, at)
	return nil
}

// Invalidate drops what inv names here, in Redis and, through the one
// announcement Redis sends to every process, in every other process's
// local layer. The local layer is cleared again once Redis has answered,
// so that a fill that read Redis meanwhile does not outlive the call.
//
// While the local layer is live it then waits, at most Options.EchoWait,
// for the announcement to come back from Redis (see EchoWait). A replay is
// not announced, so it does not wait; nor does a purge.
func (c *Cache) Invalidate(ctx context.Context, inv latchkey.Invalidation) error {
	if inv.Empty() {
		return nil
	}
	c.drop(inv)
	var echo chan struct{}
	if c.live.Load() && !inv.Replay && !inv.All {
		echo = c.expectEcho(inv)
	}
	err := c.remote.Invalidate(ctx, inv)
	c.drop(inv)
	if echo != nil {
		c.awaitEcho(ctx, echo, err == nil)
		c.forgetEcho(inv, echo)
	}
	return err
}

// drop removes what inv names from the local layer, and spoils the fills
// in flight of its keys' stripes.
func (c *Cache) drop(inv latchkey.Invalidation) {
	if inv.All {
		c.purgeLocal()
		return
	}
	for i, d := range inv.Sessions {
		c.dropKey(c.sessionStripe(d), latchkey.Invalidation{Sessions: inv.Sessions[i : i+1]})
	}
	for i, id := range inv.Users {
		c.dropKey(c.userStripe(id), latchkey.Invalidation{Users: inv.Users[i : i+1]})
	}
}

// dropKey removes one key, whose stripe is st, from the local layer.
func (c *Cache) dropKey(st *stripe, one latchkey.Invalidation) {
	st.mu.Lock()
	st.gen.Add(1)
	c.local.Invalidate(context.Background(), one)
	st.mu.Unlock()
}

// User returns the local entry when the local layer is live, else the
// Redis one, which then fills the local layer. Errors are Redis's.
func (c *Cache) User(ctx context.Context, id int64) (latchkey.User, bool, error) {
	if c.live.Load() {
		if u, ok, _ := c.local.User(ctx, id); ok {
			return u, true, nil
		}
	}
	return c.remoteUser(ctx, id)
}

func (c *Cache) remoteUser(ctx context.Context, id int64) (latchkey.User, bool, error) {
	st := c.userStripe(id)
	gen := st.gen.Load()
	u, ok, err := c.remote.User(ctx, id)
	if err != nil || !ok {
		return u, ok, err
	}
	c.fillUser(st, gen, u)
	return u, true, nil
}

func (c *Cache) fillUser(st *stripe, gen uint64, u latchkey.User) {
	st.mu.Lock()
	if st.gen.Load() == gen && c.live.Load() {
		c.local.PutUser(context.Background(), u)
	}
	st.mu.Unlock()
}

// PutUser writes u, without its password hash, to Redis and to the local
// layer; as with PutSession, a write Redis does not take is not an error.
func (c *Cache) PutUser(ctx context.Context, u latchkey.User) error {
	u.PasswordHash = ""
	st := c.userStripe(u.ID)
	gen := st.gen.Load()
	c.remote.PutUser(ctx, u)
	c.fillUser(st, gen, u)
	return nil
}

// expectEcho returns a channel closed when the announcement of inv comes
// back: one that names inv's first key.
func (c *Cache) expectEcho(inv latchkey.Invalidation) chan struct{} {
	if len(inv.Sessions) > 0 {
		return c.sessionEchoes.expect(inv.Sessions[0])
	}
	return c.userEchoes.expect(inv.Users[0])
}

// forgetEcho drops the wait expectEcho started.
func (c *Cache) forgetEcho(inv latchkey.Invalidation, echo chan struct{}) {
	if len(inv.Sessions) > 0 {
		c.sessionEchoes.forget(inv.Sessions[0], echo)
		return
	}
	c.userEchoes.forget(inv.Users[0], echo)
}

// awaitEcho waits for echo to be closed, at most Options.EchoWait, when
// the invalidation was published.
func (c *Cache) awaitEcho(ctx context.Context, echo chan struct{}, published bool) {
	if !published {
		return
	}
	t := time.NewTimer(c.opt.EchoWait)
	defer t.Stop()
	select {
	case <-echo:
		c.echoed.Add(1)
		return
	case <-t.C:
	case <-ctx.Done():
	}
	c.unechoed.Add(1)
}

// echoes are the waiters for invalidations naming a key.
type echoes[K comparable] struct {
	mu sync.Mutex
	w  map[K][]chan struct{}
}

// expect returns a channel closed when an invalidation naming k arrives.
func (e *echoes[K]) expect(k K) chan struct{} {
	ch := make(chan struct{})
	e.mu.Lock()
	if e.w == nil {
		e.w = make(map[K][]chan struct{})
	}
	e.w[k] = append(e.w[k], ch)
	e.mu.Unlock()
	return ch
}

// heard closes the channels waiting for k.
func (e *echoes[K]) heard(k K) {
	e.mu.Lock()
	if chs, ok := e.w[k]; ok {
		for _, ch := range chs {
			close(ch)
		}
		delete(e.w, k)
	}
	e.mu.Unlock()
}

// heardAll closes every waiting channel.
func (e *echoes[K]) heardAll() {
	e.mu.Lock()
	for k, chs := range e.w {
		for _, ch := range chs {
			close(ch)
		}
		delete(e.w, k)
	}
	e.mu.Unlock()
}

// forget drops ch from the waiters for k, if it is still there.
func (e *echoes[K]) forget(k K, ch chan struct{}) {
	e.mu.Lock()
	chs := e.w[k]
	for i, c := range chs {
		if c == ch {
			chs = append(chs[:i], chs[i+1:]...)
			break
		}
	}
	if len(chs) == 0 {
		delete(e.w, k)
	} else {
		e.w[k] = chs
	}
	e.mu.Unlock()
}

// purgeLocal empties the local layer and spoils every fill in flight.
func (c *Cache) purgeLocal() {
	for i := range c.stripes {
		c.stripes[i].mu.Lock()
	}
	for i := range c.stripes {
		c.stripes[i].gen.Add(1)
	}
	c.local.Invalidate(context.Background(), latchkey.Invalidation{All: true})
	for i := range c.stripes {
		c.stripes[i].mu.Unlock()
	}
}

// Ping reports whether Redis answers. The cache still answers correctly
// when it does not (every read then misses or fails), but the operator
// should know.
func (c *Cache) Ping(ctx context.Context) error { return c.remote.Ping(ctx) }

// apply drops what an announced invalidation names from the local layer,
// and ends the waits for its echo.
func (c *Cache) apply(inv latchkey.Invalidation) {
	c.drop(inv)
	if inv.All {
		c.sessionEchoes.heardAll()
		c.userEchoes.heardAll()
		return
	}
	for _, d := range inv.Sessions {
		c.sessionEchoes.heard(d)
	}
	for _, id := range inv.Users {
		c.userEchoes.heard(id)
	}
}

// Backoff between subscription attempts.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// subscriber keeps a subscription to the invalidation channel until ctx
// ends, resubscribing after every loss.
func (c *Cache) subscriber(ctx context.Context) {
	backoff := minBackoff
	lost := false // a loss was logged, and no subscription since
	for {
		sub := c.remote.Subscribe(ctx) // no I/O yet
		wasLive, err := c.subscribe(ctx, sub, &lost)
		c.live.Store(false)
		if ctx.Err() != nil {
			return
		}
		if wasLive {
			backoff = minBackoff
			c.reportLoss()
		}
		if !lost {
			lost = true
			c.opt.Logger.Warn("cache: invalidations from Redis not received; local cache layer off until resubscribed",
				"channel", sub.Channel(), "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

var errNoPong = errors.New("no answer to ping")

// subscribe subscribes with sub once and applies invalidations until the
// subscription fails; it closes sub. It reports whether the local layer
// went live.
func (c *Cache) subscribe(ctx context.Context, sub *redis.Subscription, lost *bool) (wasLive bool, err error) {
	c.mu.Lock()
	if c.closed || ctx.Err() != nil {
		c.mu.Unlock()
		sub.Close()
		return false, ctx.Err()
	}
	c.sub = sub
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sub = nil
		c.mu.Unlock()
		sub.Close()
	}()

	if err := sub.Start(ctx); err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	pinged := false
	for {
		ev, err := sub.Receive(ctx, c.opt.HealthCheck)
		if err != nil {
			var ne net.Error
			if !pinged && errors.As(err, &ne) && ne.Timeout() {
				if err := sub.Ping(ctx); err != nil {
					return wasLive, fmt.Errorf("ping: %w", err)
				}
				pinged = true
				continue
			}
			if pinged {
				err = fmt.Errorf("%w: %w", errNoPong, err)
			}
			return wasLive, err
		}
		pinged = false
		switch ev.Kind {
		case redis.EventSubscribed:
			// Subscribed from here on: whatever was missed before is
			// purged before the layer is trusted.
			c.purgeLocal()
			c.live.Store(true)
			wasLive = true
			if *lost {
				*lost = false
				c.opt.Logger.Info("cache: invalidations from Redis received again; local cache layer purged and on",
					"channel", sub.Channel())
			}
		case redis.EventInvalidation:
			c.apply(ev.Invalidation)
		}
	}
}

// settleInterval is how often owed deletes are retried.
const settleInterval = 250 * time.Millisecond

// settler retries the deletes Redis did not take, which reads alone may
// never do here: local hits make no Redis call.
func (c *Cache) settler(ctx context.Context) {
	t := time.NewTicker(settleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.remote.Settle(ctx)
		}
	}
}
