// Package webauthn is latchkey's WebAuthn relying party
// (latchkey.RelyingParty), over github.com/go-webauthn/webauthn: it makes
// the options of registrations and logins, and checks the browser's
// answers. Its policy: discoverable credentials only (residentKey
// required), user verification required (a passkey is a complete
// login), no attestation asked (passkeys of any authenticator).
package webauthn

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkeyhq/latchkey"
)

// Config names the relying party.
type Config struct {
	// RPID is the relying party's id: the domain the passkeys belong to
	// ("example.com"), the origins' host or a suffix of it.
	RPID string
	// Origins are the origins the browser may run the ceremonies at
	// ("https://login.example.com"); at least one.
	Origins []string
	// DisplayName names the service in the browser's prompts; default
	// "latchkey".
	DisplayName string
}

// RelyingParty implements latchkey.RelyingParty.
type RelyingParty struct {
	w *gowebauthn.WebAuthn
}

var _ latchkey.RelyingParty = (*RelyingParty)(nil)

// New checks cfg and returns its relying party.
func New(cfg Config) (*RelyingParty, error) {
	if cfg.RPID == "" {
		return nil, errors.New("webauthn: no relying party id")
	}
	if len(cfg.Origins) == 0 {
		return nil, errors.New("webauthn: no origin")
	}
	if cfg.DisplayName == "" {
		cfg.DisplayName = "latchkey"
	}
	yes := true
	w, err := gowebauthn.New(&gowebauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.DisplayName,
		RPOrigins:     cfg.Origins,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: &yes,
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationRequired,
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return &RelyingParty{w: w}, nil
}

// user is a latchkey.PasskeyUser as the library sees one.
type user struct{ u latchkey.PasskeyUser }

func (u user) WebAuthnID() []byte          { return u.u.Handle }
func (u user) WebAuthnName() string        { return u.u.Name }
func (u user) WebAuthnDisplayName() string { return u.u.DisplayName }
func (u user) WebAuthnCredentials() []gowebauthn.Credential {
	cs := make([]gowebauthn.Credential, len(u.u.Passkeys))
	for i, p := range u.u.Passkeys {
		cs[i] = credential(p)
	}
	return cs
}

// credential is the library's record of a stored passkey.
func credential(p latchkey.Passkey) gowebauthn.Credential {
	ts := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		ts[i] = protocol.AuthenticatorTransport(t)
	}
	var flags protocol.AuthenticatorFlags = protocol.FlagUserPresent | protocol.FlagUserVerified
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	return gowebauthn.Credential{
		ID:              p.CredentialID,
		PublicKey:       p.PublicKey,
		AttestationType: p.AttestationType,
		Transport:       ts,
		Flags:           gowebauthn.NewCredentialFlags(flags),
		Authenticator:   gowebauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}
}

// BeginRegistration returns the creation options ({"publicKey": …}) and
// the session data to keep, as JSON.
func (rp *RelyingParty) BeginRegistration(u latchkey.PasskeyUser) ([]byte, []byte, error) {
	exclude := make([]protocol.CredentialDescriptor, len(u.Passkeys))
	for i, p := range u.Passkeys {
		c := credential(p)
		exclude[i] = c.Descriptor()
	}
	creation, session, err := rp.w.BeginRegistration(user{u}, gowebauthn.WithExclusions(exclude))
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: begin registration: %w", err)
	}
	return marshalPair(creation, session)
}

func marshalPair(options, session any) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: options: %w", err)
	}
	s, err := json.Marshal(session)
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: session: %w", err)
	}
	return o, s, nil
}

func unmarshalSession(state []byte) (gowebauthn.SessionData, error) {
	var s gowebauthn.SessionData
	if err := json.Unmarshal(state, &s); err != nil {
		return s, fmt.Errorf("webauthn: session: %w", err)
	}
	return s, nil
}

// FinishRegistration checks an attestation against state.
func (rp *RelyingParty) FinishRegistration(u latchkey.PasskeyUser, state, response []byte) (latchkey.Passkey, error) {
	session, err := unmarshalSession(state)
	if err != nil {
		return latchkey.Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return latchkey.Passkey{}, fmt.Errorf("webauthn: registration: %w", describe(err))
	}
	c, err := rp.w.CreateCredential(user{u}, session, parsed)
	if err != nil {
		return latchkey.Passkey{}, fmt.Errorf("webauthn: registration: %w", describe(err))
	}
	ts := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		ts[i] = string(t)
	}
	if len(ts) == 0 {
		ts = nil
	}
	return latchkey.Passkey{
		CredentialID:    c.ID,
		PublicKey:       c.PublicKey,
		SignCount:       c.Authenticator.SignCount,
		Transports:      ts,
		AAGUID:          c.Authenticator.AAGUID,
		AttestationType: c.AttestationType,
		BackupEligible:  c.Flags.BackupEligible,
		BackupState:     c.Flags.BackupState,
	}, nil
}

// BeginLogin returns the request options ({"publicKey": …}) of a login
// with a discoverable credential, and the session data to keep.
func (rp *RelyingParty) BeginLogin() ([]byte, []byte, error) {
	assertion, session, err := rp.w.BeginDiscoverableLogin(gowebauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: begin login: %w", err)
	}
	return marshalPair(assertion, session)
}

// ParseAssertion decodes the JSON of a PublicKeyCredential answering a
// login.
func (rp *RelyingParty) ParseAssertion(response []byte) (latchkey.Assertion, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return latchkey.Assertion{}, fmt.Errorf("webauthn: assertion: %w", describe(err))
	}
	return latchkey.Assertion{CredentialID: parsed.RawID, UserHandle: parsed.Response.UserHandle, Parsed: parsed}, nil
}

// VerifyAssertion checks a against state and the passkey p of u.
func (rp *RelyingParty) VerifyAssertion(a latchkey.Assertion, state []byte, u latchkey.PasskeyUser, p latchkey.Passkey) (latchkey.AssertionResult, error) {
	parsed, ok := a.Parsed.(*protocol.ParsedCredentialAssertionData)
	if !ok || parsed == nil {
		return latchkey.AssertionResult{}, errors.New("webauthn: assertion not parsed by ParseAssertion")
	}
	session, err := unmarshalSession(state)
	if err != nil {
		return latchkey.AssertionResult{}, err
	}
	u.Passkeys = []latchkey.Passkey{p}
	handler := func(rawID, userHandle []byte) (gowebauthn.User, error) { return user{u}, nil }
	_, c, err := rp.w.ValidatePasskeyLogin(handler, session, parsed)
	if err != nil {
		return latchkey.AssertionResult{}, fmt.Errorf("webauthn: assertion: %w", describe(err))
	}
	return latchkey.AssertionResult{
		SignCount:    parsed.Response.AuthenticatorData.Counter,
		BackupState:  c.Flags.BackupState,
		CloneWarning: c.Authenticator.CloneWarning,
	}, nil
}

// describe adds to a protocol error the detail the library keeps apart
// (DevInfo), for the log.
func describe(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" && !strings.Contains(err.Error(), pe.DevInfo) {
		return fmt.Errorf("%w (%s)", err, pe.DevInfo)
	}
	return err
}
