package latchkey

import (
	"context"
	"log/slog"
	"time"
)

// TOTP is a user's TOTP second factor as a store keeps it: pending from
// its enrolment until a code confirms it, then required at every login.
type TOTP struct {
	UserID int64
	// Sealed is the secret sealed by the MFA key (MFAKey.seal): the store
	// never holds it in clear.
	Sealed    []byte
	Confirmed bool
	// LastStep is the last time step whose code was accepted: a code is
	// accepted once, and only for a later step.
	LastStep  int64
	CreatedAt time.Time
}

// MFAChallenge is a login whose password was right, waiting for its
// second factor. The store keeps the digest of its mfa_token, never the
// token, so that every node sees it and counts its attempts.
type MFAChallenge struct {
	Digest Digest
	UserID int64
	// HashDigest is the SHA-256 of the password hash the password was
	// checked against: a password changed meanwhile voids the challenge.
	HashDigest Digest
	// DeviceName is the login's device name, for the session it issues.
	DeviceName string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// Attempts counts the codes tried, this one included.
	Attempts int
}

// MFAStore keeps second factors (sqlite, postgres): TOTP secrets, the
// digests of recovery codes, the challenges of logins half done, and the
// check value of the key that seals the secrets. Each method that decides
// something (a step accepted, a code used, an attempt counted) decides it
// in one atomic step, so that two nodes never both accept one code.
type MFAStore interface {
	// PutPendingTOTP stores t, unconfirmed, replacing a pending TOTP of
	// the user. ErrConflict when the user has a confirmed one;
	// ErrNotFound when there is no such user.
	PutPendingTOTP(ctx context.Context, t TOTP) error
	// TOTPOf returns the user's TOTP, pending or confirmed; ErrNotFound
	// when there is none.
	TOTPOf(ctx context.Context, userID int64) (TOTP, error)
	// ConfirmTOTP, in one transaction: confirms the user's pending TOTP
	// if its secret is still sealed (no later enrolment replaced it),
	// with step as its last step; replaces the user's recovery codes by
	// codes; and marks the user as needing a second factor, so that a
	// login without one (CreateSession without SecondFactor) fails from
	// its commit on. ErrNotFound when there is no such pending TOTP.
	ConfirmTOTP(ctx context.Context, userID int64, sealed []byte, step int64, codes []Digest) error
	// AcceptTOTPStep records step as the last accepted step of the user's
	// confirmed TOTP if it is later than the one recorded, and reports
	// whether it was: false for a replay, or when there is none.
	AcceptTOTPStep(ctx context.Context, userID, step int64) (bool, error)
	// UseRecoveryCode removes the user's recovery code d and reports
	// whether the user had it.
	UseRecoveryCode(ctx context.Context, userID int64, d Digest) (bool, error)
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID int64) (int, error)
	// DeleteMFA removes the user's TOTP (pending or confirmed), recovery
	// codes and challenges, and the mark of CreateSession, in one
	// transaction; with revoke, it also revokes every session of the user
	// there, and returns their digests. ErrNotFound when there is no such
	// user.
	DeleteMFA(ctx context.Context, userID int64, revoke bool) ([]Digest, error)

	// CreateMFAChallenge stores c with no attempt counted.
	CreateMFAChallenge(ctx context.Context, c MFAChallenge) error
	// AttemptMFAChallenge counts one attempt at the challenge d and
	// returns it, if it expires after now and had fewer than max attempts
	// counted; ErrNotFound otherwise.
	AttemptMFAChallenge(ctx context.Context, d Digest, now time.Time, max int) (MFAChallenge, error)
	// UseMFAChallenge deletes the challenge d; ErrNotFound when it is gone
	// (another attempt used it up). Of several calls, one succeeds.
	UseMFAChallenge(ctx context.Context, d Digest) error

	// MFAKeyCheck stores check as the MFA key's check value when none is
	// stored, and reports whether the stored one is check.
	MFAKeyCheck(ctx context.Context, check []byte) (bool, error)
}

// MFAToken is the secret of a challenge, which the client sends back with
// its code. It is no bearer token: no route but POST /v1/login/mfa takes
// it. It prints as [redacted].
type MFAToken string

// MFATokenPrefix starts every mfa_token, so that no check mistakes one
// for a bearer token, and secret scanners find leaked ones.
const MFATokenPrefix = "lkm_"

// Reveal returns the secret itself, for the answer that hands it out.
func (t MFAToken) Reveal() string { return string(t) }

// Digest returns the SHA-256 digest the store keeps.
func (t MFAToken) Digest() Digest { return Token(t).Digest() }

func (t MFAToken) String() string       { return "[redacted]" }
func (t MFAToken) GoString() string     { return "[redacted]" }
func (t MFAToken) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Second factor methods, as mfa_required lists them.
const (
	MFAMethodTOTP     = "totp"
	MFAMethodRecovery = "recovery"
)

// MFAPending is what an mfa_required answer carries: the challenge's
// token, the methods that answer it, and when it expires.
type MFAPending struct {
	Token     MFAToken
	Methods   []string
	ExpiresAt time.Time
}
