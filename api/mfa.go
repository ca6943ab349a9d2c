package api

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"net/http"

	"github.com/pquerna/otp"

	"github.com/latchkeyhq/latchkey"
)

// The routes of the second factor: the second step of a login, and the
// enrolment, confirmation and removal of a TOTP.

// qrSize is the side of the QR code's PNG, in pixels.
const qrSize = 256

func (s *server) handleLoginMFA() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, v, err := decodeRequired(w, r, "mfa_token", "code")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		device, err := f.optional("device_name")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		is, err := s.auth.LoginMFA(r.Context(), latchkey.MFALoginRequest{
			Token:      latchkey.MFAToken(v[0]),
			Code:       v[1],
			DeviceName: device,
			Client:     s.clientOf(r),
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeIssued(w, is)
	})
}

type totpEnrolmentJSON struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	QRPNG      string `json:"qr_png"`
}

func (s *server) handleEnrolTOTP() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		_, v, err := decodeRequired(w, r, "password")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		en, err := s.auth.EnrollTOTP(r.Context(), p, latchkey.Password(v[0]), s.clientOf(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		qr, err := qrPNG(en.URL)
		if err != nil {
			s.writeError(w, r, latchkey.Internal("totp qr code: %w", err))
			return
		}
		writeJSON(w, http.StatusOK, totpEnrolmentJSON{Secret: en.Secret, OTPAuthURL: en.URL, QRPNG: qr})
	}
}

// qrPNG draws the QR code of an otpauth:// URL as a PNG, in base64.
func qrPNG(u string) (string, error) {
	k, err := otp.NewKeyFromURL(u)
	if err != nil {
		return "", err
	}
	img, err := k.Image(qrSize, qrSize)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b.Bytes()), nil
}

func (s *server) handleConfirmTOTP() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		_, v, err := decodeRequired(w, r, "code")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		codes, err := s.auth.ConfirmTOTP(r.Context(), p, v[0], s.clientOf(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
	}
}

func (s *server) handleDisableTOTP() authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p latchkey.Principal) {
		_, v, err := decodeRequired(w, r, "password", "code")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.auth.DisableTOTP(r.Context(), p, latchkey.Password(v[0]), v[1], s.clientOf(r)); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
