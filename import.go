package latchkey

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Importer is a Store that takes in users and sessions from another system
// (a Django project, say) in one transaction, so that an import either
// lands whole or not at all, and can be run again: what it finds already
// stored it updates or leaves alone, never duplicates.
//
// Import runs fn with an ImportTx and commits what fn put when fn returns
// nil. When fn returns an error, nothing fn put is kept and Import returns
// that error unchanged, so a dry run is an fn that counts and then
// returns a sentinel error. The change feed gets, with the commit, one
// entry per user record the import changed and one per session it
// revoked, exactly as SetActive and SetPassword write them, so that every
// running server evicts what the import made stale. Options that fail
// Validate fail Import before it runs fn.
type Importer interface {
	Store
	Import(ctx context.Context, opt ImportOptions, fn func(tx ImportTx) error) error
}

// ImportOptions configures an Importer's Import.
type ImportOptions struct {
	// KeepHash reports whether a stored password hash was written by
	// latchkey's own hasher, so that PutUser keeps it over an imported
	// one. Required: the domain does not know which algorithm the hasher
	// writes (password.IsOwn does).
	KeepHash func(stored string) bool
}

// Validate reports an invalid error for options an import cannot run
// with: without KeepHash, an import would overwrite the hashes of users
// who logged in since an earlier one.
func (o ImportOptions) Validate() error {
	if o.KeepHash == nil {
		return Invalid("import: ImportOptions.KeepHash is required")
	}
	return nil
}

// ImportTx puts records inside an Importer's transaction. Its methods are
// called from fn only, one at a time.
type ImportTx interface {
	// PutUser stores u under u.ID (which must be positive), by these
	// rules:
	//
	//   - u.Username is stored in NFKC form, as latchkey stores every
	//     username. A name that is no username (empty, too long, not
	//     UTF-8, with spaces, control or invisible characters) is skipped
	//     with SkipInvalidUsername; the rules below compare the NFKC form,
	//     and a name taken only once normalised is skipped with
	//     SkipNormalizedUsernameTaken.
	//   - A user is matched by id. No user with u.ID: u is created with
	//     that id, and users created later get ids past it.
	//   - The user with u.ID has another username: u is skipped with
	//     SkipIDTaken. It is not taken for a rename: it may be a user
	//     created in latchkey before the import, and merging the two would
	//     hand one person's account to another. The one rename is to the
	//     NFKC form of the stored name, which a user imported before
	//     usernames were normalised gets (when no other user holds it).
	//   - Another user (another id) holds u.Username: u is skipped with
	//     SkipUsernameTaken.
	//   - Else the stored user takes u's fields, but for two: a stored
	//     password hash that latchkey wrote (ImportOptions.KeepHash: the
	//     user logged in or changed password here since an earlier import)
	//     is kept, and so is a later LastLogin. Nothing differs:
	//     Unchanged; else Updated.
	//   - An update that disables the user or changes the password hash
	//     revokes every session of the user, as SetActive and SetPassword
	//     do; the result lists the revoked digests.
	//
	// Times are stored, and compared, at microsecond precision.
	PutUser(ctx context.Context, u User) (ImportResult, error)
	// PutSession stores s, an issued token, as it is given: the caller
	// has already judged its expiry. A session is matched by digest: one
	// already stored for the same user is Unchanged (never extended or
	// otherwise altered); one stored for another user is skipped with
	// SkipTokenTaken. A session whose user is not stored is skipped with
	// SkipUserMissing, and one whose user is inactive with
	// SkipUserInactive (disabled users hold no sessions). Creating a
	// session writes no change entry: no cache can hold it yet.
	PutSession(ctx context.Context, s Session) (ImportResult, error)
}

// ImportAction is what PutUser or PutSession did with a record.
type ImportAction uint8

const (
	ImportCreated ImportAction = iota + 1
	ImportUpdated
	ImportUnchanged
	ImportSkipped
)

func (a ImportAction) String() string {
	switch a {
	case ImportCreated:
		return "created"
	case ImportUpdated:
		return "updated"
	case ImportUnchanged:
		return "unchanged"
	case ImportSkipped:
		return "skipped"
	}
	return fmt.Sprintf("import_action(%d)", uint8(a))
}

// Reasons an ImportTx skips a record, for ImportResult.Reason.
const (
	SkipInvalidUsername         = "invalid username"
	SkipIDTaken                 = "id belongs to a user with another username"
	SkipUsernameTaken           = "username belongs to another user"
	SkipNormalizedUsernameTaken = "username, once normalised (NFKC), belongs to another user"
	SkipUserMissing             = "user not found"
	SkipUserInactive            = "user inactive"
	SkipTokenTaken              = "token belongs to another user"
)

// ImportResult says what an ImportTx did with one record.
type ImportResult struct {
	Action ImportAction
	// Reason says why the record was skipped; empty otherwise.
	Reason string
	// KeptPassword reports that the stored password hash, written by
	// latchkey, was kept over a different imported one.
	KeptPassword bool
	// Revoked holds the digests of the sessions the update revoked.
	Revoked []Digest
}

// UserImport is ImportTx.PutUser written once, over a store's
// statements, so that both stores take the same steps in the same order
// and decide alike (DecideImportUser). Its funcs run inside the store's
// import transaction.
type UserImport struct {
	// KeepHash is the import's ImportOptions.KeepHash.
	KeepHash func(stored string) bool
	// Insert inserts u unless its id or its username is taken, and
	// reports whether it did.
	Insert func(ctx context.Context, u User) (bool, error)
	// Find returns the stored users with u's id or u's username.
	Find func(ctx context.Context, u User) ([]User, error)
	// Update stores m, a stored user merged with an imported one, and
	// writes the change entries; when revoke, it revokes every session of
	// the user and returns their digests.
	Update func(ctx context.Context, m User, revoke bool) ([]Digest, error)
	// Fail translates Put's errors at the store's edge, as the store's
	// other methods do theirs; op is "import user".
	Fail func(op string, err error) error

	found bool // the previous user was stored already
}

// errNotInserted is an insert that found, against the reads before it, a
// row in its way.
var errNotInserted = errors.New("the insert conflicted with a row the transaction did not see")

// Put stores u by the rules of ImportTx.PutUser. In a first import
// nearly every user is new, in a re-run nearly none is: Put first tries
// what the previous user needed, the insert or the read, which saves a
// statement per user either way.
func (p *UserImport) Put(ctx context.Context, u User) (ImportResult, error) {
	res, err := p.put(ctx, u)
	if err != nil {
		return ImportResult{}, p.Fail("import user", err)
	}
	return res, nil
}

func (p *UserImport) put(ctx context.Context, u User) (ImportResult, error) {
	if u.ID <= 0 {
		return ImportResult{}, Invalid("an imported user needs a positive id")
	}
	typed := u.Username
	name, err := normalizeUsername(typed)
	if err != nil {
		return ImportResult{Action: ImportSkipped, Reason: SkipInvalidUsername}, nil
	}
	u.Username = name
	res, err := p.putNormalized(ctx, u)
	if res.Reason == SkipUsernameTaken && name != typed {
		res.Reason = SkipNormalizedUsernameTaken
	}
	return res, err
}

func (p *UserImport) putNormalized(ctx context.Context, u User) (ImportResult, error) {
	if !p.found {
		ok, err := p.Insert(ctx, u)
		switch {
		case err != nil:
			return ImportResult{}, err
		case ok:
			return ImportResult{Action: ImportCreated}, nil
		}
		p.found = true
	}
	stored, err := p.Find(ctx, u)
	if err != nil {
		return ImportResult{}, err
	}
	m, res, revoke := DecideImportUser(u, stored, p.KeepHash)
	switch res.Action {
	case ImportCreated:
		ok, err := p.Insert(ctx, u)
		if err == nil && !ok {
			err = errNotInserted
		}
		if err != nil {
			return ImportResult{}, err
		}
		p.found = false
	case ImportUpdated:
		if res.Revoked, err = p.Update(ctx, m, revoke); err != nil {
			return ImportResult{}, err
		}
	}
	return res, nil
}

// DecideImportUser applies the rules of ImportTx.PutUser to in, given
// stored: the users that a store's transaction holds with in's id or
// in's username (none, one or two). It returns the result, and with it
// what the store does:
//
//   - ImportCreated: insert in;
//   - ImportUpdated: store the user returned, and revoke every session of
//     the user when the bool is true;
//   - ImportUnchanged, ImportSkipped: nothing.
//
// keepHash is the import's ImportOptions.KeepHash. UserImport.Put calls
// it for both stores, so that they decide alike. in.Username is in NFKC
// form (UserImport.Put normalises it).
func DecideImportUser(in User, stored []User, keepHash func(stored string) bool) (User, ImportResult, bool) {
	var (
		cur          User
		found, taken bool
	)
	for _, u := range stored {
		switch {
		case u.ID == in.ID:
			cur, found = u, true
		case u.Username == in.Username:
			taken = true
		}
	}
	switch {
	case found && cur.Username != in.Username && foldUsername(cur.Username) != in.Username:
		return User{}, ImportResult{Action: ImportSkipped, Reason: SkipIDTaken}, false
	case taken:
		return User{}, ImportResult{Action: ImportSkipped, Reason: SkipUsernameTaken}, false
	case !found:
		return in, ImportResult{Action: ImportCreated}, false
	}
	return MergeImport(cur, in, keepHash)
}

// DecideImportSession applies the rules of ImportTx.PutSession to s,
// given what a store's transaction holds: owner, the user id of the
// session stored under s's digest (nil when there is none), and active,
// whether s's user is active (nil when the user is not stored).
// ImportCreated means: insert s; any other result, nothing. Both stores
// call it, so that they decide alike.
func DecideImportSession(s Session, owner *int64, active *bool) ImportResult {
	switch {
	case owner != nil && *owner == s.UserID:
		return ImportResult{Action: ImportUnchanged}
	case owner != nil:
		return ImportResult{Action: ImportSkipped, Reason: SkipTokenTaken}
	case active == nil:
		return ImportResult{Action: ImportSkipped, Reason: SkipUserMissing}
	case !*active:
		return ImportResult{Action: ImportSkipped, Reason: SkipUserInactive}
	}
	return ImportResult{Action: ImportCreated}
}

// MergeImport applies the rules of ImportTx.PutUser to cur, the stored
// user with in's id and username, and returns the user to store, the
// result (Updated or Unchanged, with KeptPassword) and whether the user's
// sessions must be revoked. keepHash is the import's
// ImportOptions.KeepHash. Both stores call it, so that they merge alike.
func MergeImport(cur, in User, keepHash func(stored string) bool) (User, ImportResult, bool) {
	m := in
	m.ID = cur.ID
	m.LastLogin = importTime(in.LastLogin)
	m.DateJoined = importTime(in.DateJoined)
	var res ImportResult
	if m.PasswordHash != cur.PasswordHash && keepHash(cur.PasswordHash) {
		m.PasswordHash = cur.PasswordHash
		res.KeptPassword = true
	}
	if cur.LastLogin.After(m.LastLogin) {
		m.LastLogin = cur.LastLogin
	}
	if m.Username == cur.Username && m.Email == cur.Email && m.FirstName == cur.FirstName &&
		m.LastName == cur.LastName && m.PasswordHash == cur.PasswordHash && m.Active == cur.Active &&
		m.LastLogin.Equal(cur.LastLogin) && m.DateJoined.Equal(cur.DateJoined) {
		res.Action = ImportUnchanged
		return cur, res, false
	}
	res.Action = ImportUpdated
	revoke := m.PasswordHash != cur.PasswordHash || cur.Active && !m.Active
	return m, res, revoke
}

// importTime returns t as every store keeps it: UTC, whole microseconds.
func importTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
