package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Second factors (latchkey.MFAStore). Every write goes through the one
// writer connection, whose transactions hold the write lock from their
// start: each decision below (a step accepted, a code used, an attempt
// counted, a confirmation against a login) is made with nothing else
// writing.

// PutPendingTOTP stores t as the user's pending TOTP, replacing a pending
// one; ErrConflict when the user's TOTP is confirmed.
func (s *Store) PutPendingTOTP(ctx context.Context, t latchkey.TOTP) error {
	return s.write(ctx, "put pending totp", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = ?`, t.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return latchkey.ErrNotFound
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO totp (user_id, sealed, confirmed, last_step, created_at)
VALUES (?1, ?2, 0, 0, ?3)
ON CONFLICT (user_id) DO UPDATE SET sealed = ?2, last_step = 0, created_at = ?3 WHERE NOT confirmed`,
			t.UserID, t.Sealed, micros(t.CreatedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = latchkey.ErrConflict
			}
			return err
		}
		return nil
	})
}

// TOTPOf returns the user's TOTP; ErrNotFound when there is none.
func (s *Store) TOTPOf(ctx context.Context, userID int64) (latchkey.TOTP, error) {
	t := latchkey.TOTP{UserID: userID}
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT sealed, confirmed, last_step, created_at FROM totp WHERE user_id = ?`, userID).
		Scan(&t.Sealed, &t.Confirmed, &t.LastStep, &created)
	if err != nil {
		return latchkey.TOTP{}, fail("totp of", err)
	}
	t.CreatedAt = fromMicros(created)
	return t, nil
}

// ConfirmTOTP confirms the pending TOTP sealed, replaces the recovery
// codes and marks the user, in one transaction.
func (s *Store) ConfirmTOTP(ctx context.Context, userID int64, sealed []byte, step int64, codes []latchkey.Digest) error {
	return s.write(ctx, "confirm totp", func(tx *sql.Tx) error {
		var stored []byte
		err := tx.QueryRowContext(ctx, `SELECT sealed FROM totp WHERE user_id = ? AND NOT confirmed`, userID).Scan(&stored)
		if err != nil {
			return err
		}
		if !bytes.Equal(stored, sealed) {
			return latchkey.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE totp SET confirmed = 1, last_step = ? WHERE user_id = ?`, step, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET mfa = 1 WHERE id = ?`, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		for _, d := range codes {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO recovery_codes (user_id, digest) VALUES (?, ?)`, userID, d[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// AcceptTOTPStep moves the confirmed TOTP's last step forward to step.
func (s *Store) AcceptTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	var n int64
	err := s.write(ctx, "accept totp step", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE totp SET last_step = ?1 WHERE user_id = ?2 AND confirmed AND last_step < ?1`, step, userID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// UseRecoveryCode deletes the user's recovery code d.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, d latchkey.Digest) (bool, error) {
	var n int64
	err := s.write(ctx, "use recovery code", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ? AND digest = ?`, userID, d[:])
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return 0, fail("recovery codes left", err)
	}
	return n, nil
}

// DeleteMFA removes every second factor of the user, and with revoke
// every session.
func (s *Store) DeleteMFA(ctx context.Context, userID int64, revokeSessions bool) ([]latchkey.Digest, error) {
	var ds []latchkey.Digest
	err := s.write(ctx, "delete mfa", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET mfa = 0 WHERE id = ?`, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = latchkey.ErrNotFound
			}
			return err
		}
		for _, q := range []string{
			`DELETE FROM totp WHERE user_id = ?`,
			`DELETE FROM recovery_codes WHERE user_id = ?`,
			`DELETE FROM mfa_challenges WHERE user_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return err
			}
		}
		if !revokeSessions {
			return nil
		}
		ds, err = revoke(ctx, tx, userID, nil, micros(s.now()))
		return err
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// CreateMFAChallenge stores c.
func (s *Store) CreateMFAChallenge(ctx context.Context, c latchkey.MFAChallenge) error {
	return s.write(ctx, "create mfa challenge", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO mfa_challenges
(digest, user_id, hash_digest, device_name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			c.Digest[:], c.UserID, c.HashDigest[:], c.DeviceName, micros(c.CreatedAt), micros(c.ExpiresAt))
		return err
	})
}

// AttemptMFAChallenge counts an attempt at a live challenge.
func (s *Store) AttemptMFAChallenge(ctx context.Context, d latchkey.Digest, now time.Time, max int) (latchkey.MFAChallenge, error) {
	c := latchkey.MFAChallenge{Digest: d}
	err := s.write(ctx, "attempt mfa challenge", func(tx *sql.Tx) error {
		var (
			hd               []byte
			created, expires int64
		)
		err := tx.QueryRowContext(ctx, `UPDATE mfa_challenges SET attempts = attempts + 1
WHERE digest = ? AND expires_at > ? AND attempts < ?
RETURNING user_id, hash_digest, device_name, created_at, expires_at, attempts`, d[:], micros(now), max).
			Scan(&c.UserID, &hd, &c.DeviceName, &created, &expires, &c.Attempts)
		if err != nil {
			return err
		}
		if c.HashDigest, err = digest(hd); err != nil {
			return err
		}
		c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
		return nil
	})
	if err != nil {
		return latchkey.MFAChallenge{}, err
	}
	return c, nil
}

// UseMFAChallenge deletes the challenge d.
func (s *Store) UseMFAChallenge(ctx context.Context, d latchkey.Digest) error {
	return s.write(ctx, "use mfa challenge", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM mfa_challenges WHERE digest = ?`, d[:])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = latchkey.ErrNotFound
			}
			return err
		}
		return nil
	})
}

// MFAKeyCheck stores check when no check value is stored, and compares.
func (s *Store) MFAKeyCheck(ctx context.Context, check []byte) (bool, error) {
	var stored []byte
	err := s.write(ctx, "mfa key check", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mfa_key (id, check_value) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, check); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT check_value FROM mfa_key WHERE id = 1`).Scan(&stored)
	})
	if err != nil {
		return false, err
	}
	return bytes.Equal(stored, check), nil
}
