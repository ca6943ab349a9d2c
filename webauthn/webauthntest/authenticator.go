// Package webauthntest is a software WebAuthn authenticator, and the
// browser around it, for tests: it answers the options latchkey hands out
// with what a browser's PublicKeyCredential.toJSON() gives (base64url
// without padding for every binary field), from ES256 keys, "none"
// attestation, the UP, UV and BE/BS flags, and a signature counter.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Flags of authenticator data.
const (
	FlagUP = 0x01
	FlagUV = 0x04
	FlagBE = 0x08
	FlagBS = 0x10
	FlagAT = 0x40
)

// Credential is one key the authenticator holds.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	Key        *ecdsa.PrivateKey
	// Counter is the signature counter the next assertion carries, plus
	// one (each assertion increments it first); 0 with NoCounter.
	Counter uint32
}

// Authenticator is a software authenticator and its browser: Origin is
// the origin the browser reports in clientDataJSON. Its fields may be
// changed between ceremonies to make wrong answers.
type Authenticator struct {
	Origin string
	// Flags are set in every authenticator data; default UP|UV.
	Flags byte
	// NoCounter keeps every counter at 0, as authenticators that keep
	// none (most synced passkeys) do.
	NoCounter bool
	// Transports are reported at registration; default ["internal"].
	Transports []string

	mu    sync.Mutex
	creds []*Credential
}

// New returns an authenticator whose browser runs at origin.
func New(origin string) *Authenticator {
	return &Authenticator{Origin: origin, Flags: FlagUP | FlagUV, Transports: []string{"internal"}}
}

// Clone returns a copy holding the same keys and counters: a cloned
// authenticator, whose counters fall behind the original's.
func (a *Authenticator) Clone() *Authenticator {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := &Authenticator{Origin: a.Origin, Flags: a.Flags, NoCounter: a.NoCounter, Transports: a.Transports}
	for _, c := range a.creds {
		cc := *c
		b.creds = append(b.creds, &cc)
	}
	return b
}

// Credentials returns the credentials held, oldest first.
func (a *Authenticator) Credentials() []Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	cs := make([]Credential, len(a.creds))
	for i, c := range a.creds {
		cs[i] = *c
	}
	return cs
}

var b64 = base64.RawURLEncoding

// creationOptions is what Create reads of {"publicKey": …}.
type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

// requestOptions is what Get reads of {"publicKey": …}.
type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	} `json:"publicKey"`
}

func decode(s string) ([]byte, error) { return b64.DecodeString(s) }

// B64 is b in base64url without padding, as WebAuthn's JSON has it.
func B64(b []byte) string { return b64.EncodeToString(b) }

// Create answers creation options (the JSON of latchkey's answer to POST
// /v1/webauthn/register/options) with a new resident ES256 credential,
// as the JSON of PublicKeyCredential.toJSON().
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("webauthntest: creation options: %w", err)
	}
	challenge, err1 := decode(o.PublicKey.Challenge)
	handle, err2 := decode(o.PublicKey.User.ID)
	if err := errors.Join(err1, err2); err != nil || o.PublicKey.RP.ID == "" {
		return nil, fmt.Errorf("webauthntest: creation options: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	rand.Read(id)
	c := &Credential{ID: id, RPID: o.PublicKey.RP.ID, UserHandle: handle, Key: key}

	cose, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	flags, count := a.Flags|FlagAT, a.next(c)
	a.mu.Unlock()
	auth := authData(c.RPID, flags, count)
	auth = append(auth, make([]byte, 16)...) // AAGUID: none
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(id)))
	auth = append(auth, id...)
	auth = append(auth, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, err
	}
	cd := a.clientData("webauthn.create", challenge)
	a.mu.Lock()
	a.creds = append(a.creds, c)
	a.mu.Unlock()
	return json.Marshal(map[string]any{
		"id":    b64.EncodeToString(id),
		"rawId": b64.EncodeToString(id),
		"type":  "public-key",
		"response": map[string]any{
			"clientDataJSON":     b64.EncodeToString(cd),
			"attestationObject":  b64.EncodeToString(att),
			"transports":         a.Transports,
			"publicKeyAlgorithm": -7,
		},
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
	})
}

// Get answers request options (the JSON of latchkey's answer to POST
// /v1/login/webauthn/options) with an assertion of the newest credential
// for the options' relying party, as the JSON of
// PublicKeyCredential.toJSON().
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("webauthntest: request options: %w", err)
	}
	challenge, err := decode(o.PublicKey.Challenge)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: request options: %w", err)
	}
	a.mu.Lock()
	var c *Credential
	for _, cc := range a.creds {
		if cc.RPID == o.PublicKey.RPID {
			c = cc
		}
	}
	if c == nil {
		a.mu.Unlock()
		return nil, fmt.Errorf("webauthntest: no credential for %q", o.PublicKey.RPID)
	}
	flags, count := a.Flags, a.next(c)
	a.mu.Unlock()
	auth := authData(c.RPID, flags, count)
	cd := a.clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), auth...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id":    b64.EncodeToString(c.ID),
		"rawId": b64.EncodeToString(c.ID),
		"type":  "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(auth),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(c.UserHandle),
		},
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
	})
}

// next moves c's counter and returns it. The caller holds mu.
func (a *Authenticator) next(c *Credential) uint32 {
	if a.NoCounter {
		return 0
	}
	c.Counter++
	return c.Counter
}

func (a *Authenticator) clientData(typ string, challenge []byte) []byte {
	b, _ := json.Marshal(map[string]any{
		"type":        typ,
		"challenge":   b64.EncodeToString(challenge),
		"origin":      a.Origin,
		"crossOrigin": false,
	})
	return b
}

func authData(rpID string, flags byte, count uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	b := append(h[:], flags)
	return binary.BigEndian.AppendUint32(b, count)
}

// coseKey encodes an ES256 public key as a COSE_Key.
func coseKey(k *ecdsa.PublicKey) ([]byte, error) {
	b, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	return webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: b[1:33], -3: b[33:65]})
}
