package api

import (
	"encoding/json"
	"net/http"

	"github.com/latchkeyhq/latchkey"
)

// The routes of passkeys: their registration, list and removal by a
// signed-in user, and the passkey login. Options are the relying party's
// JSON, passed on as they are: {"publicKey": …}, whose binary fields are
// base64url without padding (PublicKeyCredential.parseCreationOptionsFromJSON
// and parseRequestOptionsFromJSON take them); a credential is the JSON of
// the browser's PublicKeyCredential.toJSON(), as the field "credential"
// or spread into the body beside the route's own fields.

type passkeyJSON struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
}

func newPasskeyJSON(p latchkey.Passkey) passkeyJSON {
	j := passkeyJSON{ID: latchkey.PasskeyID(p.CredentialID), Name: p.Name, CreatedAt: timeJSON(p.CreatedAt)}
	if !p.LastUsedAt.IsZero() {
		s := timeJSON(p.LastUsedAt)
		j.LastUsedAt = &s
	}
	return j
}

// writeOptions answers with a ceremony's options, and extra fields
// besides publicKey (the login's challenge_id).
func writeOptions(w http.ResponseWriter, options []byte, extra map[string]string) {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(options, &o); err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{Code: latchkey.CodeInternal, Detail: "Internal server error."})
		return
	}
	for k, v := range extra {
		b, _ := json.Marshal(v)
		o[k] = b
	}
	setNoStore(w.Header())
	writeJSON(w, http.StatusOK, o)
}

func (s *server) handlePasskeyRegistrationOptions() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		_, v, err := decodeRequired(w, r, "password")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		options, err := s.auth.PasskeyRegistrationOptions(r.Context(), p, latchkey.Password(v[0]), s.clientOf(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeOptions(w, options, nil)
	}
}

// passkeyRegistration is the body of POST /v1/webauthn/register as
// latchkey decodes it: {"credential": {…}, "name"}, or the credential's
// fields beside "name".
func passkeyRegistration(f fields) (latchkey.PasskeyRegistration, error) {
	cred, err := f.credential("name")
	if err != nil {
		return latchkey.PasskeyRegistration{}, err
	}
	name, err := f.optional("name")
	if err != nil {
		return latchkey.PasskeyRegistration{}, err
	}
	return latchkey.PasskeyRegistration{Credential: cred, Name: name}, nil
}

func (s *server) handleRegisterPasskey() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		f, err := decode(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		req, err := passkeyRegistration(f)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		req.Client = s.clientOf(r)
		pk, err := s.auth.RegisterPasskey(r.Context(), p, req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, newPasskeyJSON(pk))
	}
}

func (s *server) handlePasskeys() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		ps, err := s.auth.Passkeys(r.Context(), p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := make([]passkeyJSON, 0, len(ps))
		for _, pk := range ps {
			out = append(out, newPasskeyJSON(pk))
		}
		writeJSON(w, http.StatusOK, map[string]any{"credentials": out})
	}
}

func (s *server) handleDeletePasskey() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		if err := s.auth.DeletePasskey(r.Context(), p, r.PathValue("id"), s.clientOf(r)); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *server) handlePasskeyLoginOptions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch, err := s.auth.PasskeyLoginOptions(r.Context(), s.clientOf(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeOptions(w, ch.Options, map[string]string{"challenge_id": ch.ID, "expires_at": timeJSON(ch.ExpiresAt)})
	})
}

// passkeyLogin is the body of POST /v1/login/webauthn as latchkey
// decodes it: {"challenge_id", "credential": {…}, …}, or the
// credential's fields beside the route's own.
func passkeyLogin(f fields) (latchkey.PasskeyLoginRequest, error) {
	v, err := f.require("challenge_id")
	cred, cerr := f.credential("challenge_id", "mfa_token", "device_name")
	if err != nil || cerr != nil {
		return latchkey.PasskeyLoginRequest{}, mergeInvalid(err, cerr)
	}
	mfa, err1 := f.optional("mfa_token")
	device, err2 := f.optional("device_name")
	if err := mergeInvalid(err1, err2); err != nil {
		return latchkey.PasskeyLoginRequest{}, err
	}
	return latchkey.PasskeyLoginRequest{ChallengeID: v[0], Credential: cred, MFAToken: latchkey.MFAToken(mfa), DeviceName: device}, nil
}

// mergeInvalid joins the fields of invalid_request errors into one; nil
// when all are nil.
func mergeInvalid(errs ...error) error {
	var fs map[string][]string
	for _, err := range errs {
		if err == nil {
			continue
		}
		if fs == nil {
			fs = map[string][]string{}
		}
		for k, v := range latchkey.AsError(err).Fields {
			fs[k] = append(fs[k], v...)
		}
	}
	if fs == nil {
		return nil
	}
	return &latchkey.Error{Kind: latchkey.KindInvalid, Code: latchkey.CodeInvalidRequest, Detail: "Invalid input.", Fields: fs}
}

func (s *server) handlePasskeyLogin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := decode(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		req, err := passkeyLogin(f)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		req.Client = s.clientOf(r)
		is, err := s.auth.LoginPasskey(r.Context(), req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeIssued(w, is)
	})
}
