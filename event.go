package latchkey

import (
	"context"
	"time"
)

// EventKind names what a security event records. The names are stable:
// they are stored, served by GET /v1/events, printed by `latchkey events`
// and logged as the `event` key; a kind is never renamed, only added.
type EventKind string

const (
	EventLoginSuccess   EventKind = "login.success"
	EventLoginFailure   EventKind = "login.failure"
	EventLoginThrottled EventKind = "login.throttled"
	EventCaptchaRefused EventKind = "login.captcha_refused"
	EventLogout         EventKind = "logout"
	EventPasswordChange EventKind = "password.change"
	EventSessionDelete  EventKind = "session.delete"
	EventUserDisable    EventKind = "user.disable"
	EventUserEnable     EventKind = "user.enable"
	// Second factors: a right password that needs one, a wrong code (at
	// a login, a password change, a confirmation or a disable: Detail
	// says which), the steps of TOTP's life, and a recovery code used.
	EventLoginMFARequired EventKind = "login.mfa_required"
	EventMFAFailure       EventKind = "mfa.failure"
	EventMFAEnroll        EventKind = "mfa.totp_enroll"
	EventMFAConfirm       EventKind = "mfa.totp_confirm"
	EventMFADisable       EventKind = "mfa.totp_disable"
	EventMFAReset         EventKind = "mfa.reset"
	EventRecoveryCodeUse  EventKind = "mfa.recovery_code_use"
	// Passkeys: registered and removed by their user, and a passkey
	// login refused (Detail: why). A passkey login that succeeds is a
	// login.success whose Detail is "webauthn".
	EventPasskeyRegister EventKind = "passkey.register"
	EventPasskeyRemove   EventKind = "passkey.remove"
	EventPasskeyFailure  EventKind = "login.passkey_failure"
)

// EventKinds lists every kind, for validation and documentation.
var EventKinds = []EventKind{
	EventLoginSuccess, EventLoginFailure, EventLoginThrottled, EventCaptchaRefused,
	EventLogout, EventPasswordChange, EventSessionDelete, EventUserDisable, EventUserEnable,
	EventLoginMFARequired, EventMFAFailure, EventMFAEnroll, EventMFAConfirm, EventMFADisable, EventMFAReset, EventRecoveryCodeUse,
	EventPasskeyRegister, EventPasskeyRemove, EventPasskeyFailure,
}

// Bounds of the text an event keeps, in bytes.
const (
	MaxEventUsername  = 4 * MaxUsernameLength // a name as typed: 150 characters of up to 4 bytes
	MaxEventUserAgent = maxUserAgentLength
	MaxEventText      = 128 // Detail, IP and SessionID
)

// Event is one security event: a login and its outcome, a logout, a
// password change, a session deleted, a user disabled or enabled. Events
// are appended, never changed, and pruned after a retention period.
type Event struct {
	ID   int64 // assigned by the store, increasing in the order of appends
	At   time.Time
	Kind EventKind
	// UserID is the user the event is about: 0 when none is known (a
	// login with a name that is no user's, or one refused before the
	// lookup).
	UserID int64
	// Username is the name as typed at a login, or the user's name for
	// the other kinds.
	Username string
	// Detail says more, for operators only: why a login failed
	// (unknown_user, wrong_password, inactive…), which throttle limit
	// refused it, a logout's scope. GET /v1/events never shows it: the
	// owner of an account must not learn from it whether another name
	// exists.
	Detail    string
	IP        string
	UserAgent string
	SessionID string // the session created, used or deleted; "" when none
}

// Bounded returns e with its text cleaned (UTF-8, no control characters)
// and cut to the bounds above, as stores keep it.
func (e Event) Bounded() Event {
	e.Kind = EventKind(cleanText(string(e.Kind), MaxEventText))
	e.Username = cleanText(e.Username, MaxEventUsername)
	e.UserAgent = cleanText(e.UserAgent, MaxEventUserAgent)
	e.Detail = cleanText(e.Detail, MaxEventText)
	e.IP = cleanText(e.IP, MaxEventText)
	e.SessionID = cleanText(e.SessionID, MaxEventText)
	return e
}

// EventFilter selects events for an operator (Events).
type EventFilter struct {
	UserID int64     // when not 0, only this user's events
	Since  time.Time // when not zero, only events at or after it
}

// EventStore keeps security events (sqlite, postgres). Events are only
// appended and pruned. Errors are *Error values of kind Internal.
type EventStore interface {
	// AppendEvents stores es, each Bounded, in one statement or
	// transaction, assigning their IDs in the order given.
	AppendEvents(ctx context.Context, es []Event) error
	// EventsOfUser returns up to limit events of the user with an ID
	// below before (any ID when before is 0), newest first.
	EventsOfUser(ctx context.Context, userID, before int64, limit int) ([]Event, error)
	// Events calls fn with every event f selects, oldest first, one row
	// at a time. An error from fn stops the walk and is returned
	// unchanged.
	Events(ctx context.Context, f EventFilter, fn func(Event) error) error
	// DeleteEventsBefore removes the events older than t and returns
	// their number.
	DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error)
}
