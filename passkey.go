package latchkey

import (
	"context"
	"time"
)

// Passkey is a WebAuthn credential of a user, as a store keeps it: what
// checks its assertions (the public key, the signature counter, the
// backup flags), and what the user sees of it (its name and times).
type Passkey struct {
	// CredentialID is the authenticator's id of the credential, unique
	// across users; the API shows it in base64url (PasskeyID).
	CredentialID []byte
	UserID       int64
	// PublicKey is the credential's public key, COSE-encoded.
	PublicKey []byte
	// SignCount is the signature counter of the last assertion accepted;
	// 0 for authenticators that keep none.
	SignCount uint32
	// Transports are the authenticator's transports ("internal",
	// "hybrid", "usb"…), as the browser reported them, for the browser's
	// next ceremony.
	Transports []string
	// AAGUID names the authenticator's model (16 bytes, zero when none
	// is given).
	AAGUID []byte
	// AttestationType is the attestation the authenticator gave at
	// registration ("none", "self", "basic"…).
	AttestationType string
	// BackupEligible and BackupState are the authenticator's BE and BS
	// flags: a credential that may be synced (BE, fixed at registration),
	// and is (BS, as of the last assertion).
	BackupEligible bool
	BackupState    bool
	Name           string
	CreatedAt      time.Time
	LastUsedAt     time.Time // zero when never used to log in
}

// PasskeyUse is what an accepted assertion writes to its passkey.
type PasskeyUse struct {
	CredentialID []byte
	// OldCount is the counter the assertion was checked against, and
	// NewCount the assertion's own: the store writes NewCount only if
	// the stored counter is still OldCount.
	OldCount, NewCount uint32
	BackupState        bool
	At                 time.Time
}

// PasskeyStore keeps the passkeys of users (sqlite, postgres).
type PasskeyStore interface {
	// CreatePasskey stores p. ErrConflict when its credential id is
	// already stored (for any user); ErrNotFound when there is no such
	// user.
	CreatePasskey(ctx context.Context, p Passkey) error
	// PasskeysOf returns the user's passkeys, oldest first.
	PasskeysOf(ctx context.Context, userID int64) ([]Passkey, error)
	// PasskeyByCredentialID returns the passkey of that credential id;
	// ErrNotFound when there is none.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (Passkey, error)
	// UsePasskey records an accepted assertion: the new counter, backup
	// state and last use, in one conditional write that succeeds only
	// while the stored counter is u.OldCount, so that of two assertions
	// checked against one counter, one is recorded (a clone, or a
	// replay of the same signature, loses). ErrNotFound when the passkey
	// is gone; ErrConflict when its counter moved meanwhile.
	UsePasskey(ctx context.Context, u PasskeyUse) error
	// DeletePasskey removes the user's passkey of that credential id;
	// ErrNotFound when the user has none with that id.
	DeletePasskey(ctx context.Context, userID int64, credentialID []byte) error
}

// MaxPasskeyNameLength bounds a passkey's name, in characters once
// normalised (NFC), as a device name is bounded.
const MaxPasskeyNameLength = MaxDeviceNameLength

// MaxPasskeys bounds the passkeys of one user.
const MaxPasskeys = 20
