package django

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Options configures Import. Zero values take the defaults, but for
// KeepHash, which is required.
type Options struct {
	// KeepHash reports whether a stored password hash was written by
	// latchkey's own hasher (password.IsOwn), so that the import keeps it
	// over the one from Django; see latchkey.ImportOptions. Without it,
	// Import fails and writes nothing.
	KeepHash func(stored string) bool
	// TokenTTL is the lifetime of an imported token from its creation in
	// Django: its session expires at created + TokenTTL, as a token
	// issued by latchkey at that time would. Default 24h, latchkey's own.
	TokenTTL time.Duration
	// TokenExpiry, when positive, overrides TokenTTL: every imported
	// token expires TokenExpiry after the import, however old it is.
	TokenExpiry time.Duration
	// DryRun counts what an import would do and then rolls it back.
	DryRun bool
	// MaxListed bounds Report.Skips; default 20, negative lists none.
	MaxListed int
	Now       func() time.Time // default time.Now
}

// Counts counts what an import did with one kind of record.
type Counts struct {
	Created, Updated, Unchanged, Skipped int
	// Reasons counts the skips by reason.
	Reasons map[string]int
}

// Skip names one skipped record. It never holds a token or a hash.
type Skip struct {
	Kind     string // "user" or "token"
	UserID   int64  // the user, or the token's user; 0 when unknown
	Username string // when known
	Reason   string
}

// String describes the skip on one line: a username that latchkey would
// not store as it is (a control character, a form that is not NFKC) is
// quoted with escapes.
func (s Skip) String() string {
	who := fmt.Sprintf("user %d", s.UserID)
	name := latchkey.QuoteUsername(s.Username)
	switch {
	case s.UserID == 0 && s.Username != "":
		who = "user " + name
	case s.Username != "":
		who += " (" + name + ")"
	}
	if s.Kind == "token" {
		who = "token of " + who
	}
	return who + ": " + s.Reason
}

// Report is what an import did (or, in a dry run, would have done).
type Report struct {
	Users, Tokens Counts
	// KeptPasswords counts users whose password hash latchkey wrote (they
	// logged in or changed password since an earlier import) and kept
	// over a different one from Django.
	KeptPasswords int
	// Revoked counts the sessions revoked because the import disabled
	// their user or changed its password.
	Revoked int
	// Skips lists the first skipped records (Options.MaxListed).
	Skips  []Skip
	DryRun bool
}

// Reasons Import skips records for, besides the store's (latchkey.Skip…).
const (
	SkipInvalidID       = "invalid id"
	SkipExpired         = "expired"
	SkipMalformedKey    = "malformed key"
	SkipUserNotImported = "user not imported"
	SkipUserNotInSource = "user not in the source"
)

// errDryRun rolls a dry run back.
var errDryRun = errors.New("dry run")

// Import reads a Django project's users and tokens with read (a Reader
// method bound to its source) and stores them into st in one
// transaction: all of them or, if anything fails, none. Each user is put
// by the rules of latchkey.ImportTx.PutUser. Each token becomes a session
// under the digest of its key, expiring per Options (a token already
// expired is skipped), with a session id derived from that digest: the
// same token gets the same id on every import, and the id gives away
// nothing about the key. Tokens read before their user are held until the
// user is read (dumpdata files in another order); nothing else is kept in
// memory but a map of the users' ids and names.
func Import(ctx context.Context, st latchkey.Importer, read func(context.Context, Handler) error, opt Options) (Report, error) {
	if opt.TokenTTL <= 0 {
		opt.TokenTTL = 24 * time.Hour
	}
	if opt.MaxListed == 0 {
		opt.MaxListed = 20
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	var rep Report
	err := st.Import(ctx, latchkey.ImportOptions{KeepHash: opt.KeepHash}, func(tx latchkey.ImportTx) error {
		im := &importer{
			tx:     tx,
			opt:    opt,
			now:    opt.Now().UTC().Truncate(time.Microsecond),
			rep:    Report{DryRun: opt.DryRun},
			users:  make(map[int64]bool),
			byName: make(map[string]int64),
		}
		err := read(ctx, Handler{
			User:  func(u User) error { return im.user(ctx, u) },
			Token: func(t Token) error { return im.token(ctx, t) },
		})
		if err != nil {
			return err
		}
		if err := im.flush(ctx); err != nil {
			return err
		}
		rep = im.rep
		if opt.DryRun {
			return errDryRun
		}
		return nil
	})
	if opt.DryRun && errors.Is(err, errDryRun) {
		err = nil
	}
	if err != nil {
		return Report{}, err
	}
	return rep, nil
}

type importer struct {
	tx  latchkey.ImportTx
	opt Options
	now time.Time
	rep Report
	// users holds the id of each user read: true when it was stored
	// (created, updated or unchanged), false when skipped.
	users map[int64]bool
	// byName maps usernames to ids, for tokens that name their user by
	// natural key.
	byName  map[string]int64
	pending []Token // read before their user
}

func (im *importer) user(ctx context.Context, du User) error {
	if du.ID <= 0 {
		im.users[du.ID] = false
		im.skip(&im.rep.Users, Skip{Kind: "user", UserID: du.ID, Username: du.Username, Reason: SkipInvalidID})
		return nil
	}
	// The username is checked and normalised by PutUser, as every
	// username latchkey stores.
	res, err := im.tx.PutUser(ctx, latchkey.User{
		ID:           du.ID,
		Username:     du.Username,
		Email:        du.Email,
		FirstName:    du.FirstName,
		LastName:     du.LastName,
		PasswordHash: du.Password,
		Active:       du.IsActive,
		LastLogin:    du.LastLogin,
		DateJoined:   du.DateJoined,
	})
	if err != nil {
		return err
	}
	stored := res.Action != latchkey.ImportSkipped
	im.users[du.ID] = stored
	// A name taken by a stored user stays with it.
	if _, ok := im.byName[du.Username]; stored || !ok {
		im.byName[du.Username] = du.ID
	}
	if res.KeptPassword {
		im.rep.KeptPasswords++
	}
	im.rep.Revoked += len(res.Revoked)
	im.count(&im.rep.Users, res, Skip{Kind: "user", UserID: du.ID, Username: du.Username})
	return nil
}

func (im *importer) token(ctx context.Context, t Token) error {
	if t.UserID == 0 && t.Username != "" {
		id, ok := im.byName[t.Username]
		if !ok {
			im.pending = append(im.pending, t)
			return nil
		}
		t.UserID = id
	}
	stored, seen := im.users[t.UserID]
	switch {
	case !seen:
		im.pending = append(im.pending, t)
		return nil
	case !stored:
		im.skip(&im.rep.Tokens, Skip{Kind: "token", UserID: t.UserID, Username: t.Username, Reason: SkipUserNotImported})
		return nil
	}
	return im.put(ctx, t)
}

// flush puts the tokens that came before their users, now that every
// user has been read.
func (im *importer) flush(ctx context.Context) error {
	for _, t := range im.pending {
		if t.UserID == 0 {
			t.UserID = im.byName[t.Username] // 0 when absent
		}
		stored, seen := im.users[t.UserID]
		switch {
		case !seen:
			im.skip(&im.rep.Tokens, Skip{Kind: "token", UserID: t.UserID, Username: t.Username, Reason: SkipUserNotInSource})
		case !stored:
			im.skip(&im.rep.Tokens, Skip{Kind: "token", UserID: t.UserID, Username: t.Username, Reason: SkipUserNotImported})
		default:
			if err := im.put(ctx, t); err != nil {
				return err
			}
		}
	}
	im.pending = nil
	return nil
}

func (im *importer) put(ctx context.Context, t Token) error {
	skip := Skip{Kind: "token", UserID: t.UserID, Username: t.Username}
	if !latchkey.ValidTokenSyntax(string(t.Key)) {
		skip.Reason = SkipMalformedKey
		im.skip(&im.rep.Tokens, skip)
		return nil
	}
	expires := t.Created.Add(im.opt.TokenTTL)
	if im.opt.TokenExpiry > 0 {
		expires = im.now.Add(im.opt.TokenExpiry)
	}
	if !expires.After(im.now) {
		skip.Reason = SkipExpired
		im.skip(&im.rep.Tokens, skip)
		return nil
	}
	d := t.Key.Digest()
	res, err := im.tx.PutSession(ctx, latchkey.Session{
		ID:         SessionID(d),
		UserID:     t.UserID,
		Digest:     d,
		CreatedAt:  t.Created.UTC().Truncate(time.Microsecond),
		LastUsedAt: im.now,
		ExpiresAt:  expires.UTC().Truncate(time.Microsecond),
	})
	if err != nil {
		return err
	}
	im.count(&im.rep.Tokens, res, skip)
	return nil
}

// SessionID is the id of the session an imported token becomes: derived
// from the token's digest, so that it is the same on every import, and
// one-way, so that the id, which the API shows, tells nothing of the
// token. It has the length and alphabet of the ids of latchkey's own
// sessions.
func SessionID(d latchkey.Digest) string {
	h := sha256.New()
	h.Write([]byte("latchkey: session id of an imported Django REST Framework token\x00"))
	h.Write(d[:])
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

func (im *importer) count(c *Counts, res latchkey.ImportResult, skip Skip) {
	switch res.Action {
	case latchkey.ImportCreated:
		c.Created++
	case latchkey.ImportUpdated:
		c.Updated++
	case latchkey.ImportUnchanged:
		c.Unchanged++
	default:
		skip.Reason = res.Reason
		im.skip(c, skip)
	}
}

func (im *importer) skip(c *Counts, s Skip) {
	c.Skipped++
	if c.Reasons == nil {
		c.Reasons = make(map[string]int)
	}
	c.Reasons[s.Reason]++
	if len(im.rep.Skips) < im.opt.MaxListed {
		im.rep.Skips = append(im.rep.Skips, s)
	}
}
