package postgres

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/latchkeyhq/latchkey"
)

// Second factors (latchkey.MFAStore). Each decision (a step accepted, a
// code used, an attempt counted) is one conditional statement: under READ
// COMMITTED, a statement that waits for another's row lock rechecks its
// condition on the row that other one committed.

// foreignKeyViolation is the SQLSTATE of a row naming no user.
const foreignKeyViolation = "23503"

const putPendingTOTP = `INSERT INTO totp (user_id, sealed, confirmed, last_step, created_at)
VALUES ($1, $2, false, 0, $3)
ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, last_step = 0, created_at = excluded.created_at
WHERE NOT totp.confirmed
RETURNING user_id`

// PutPendingTOTP stores t as the user's pending TOTP, replacing a pending
// one; ErrConflict when the user's TOTP is confirmed.
func (s *Store) PutPendingTOTP(ctx context.Context, t latchkey.TOTP) error {
	var id int64
	err := s.pool.QueryRow(ctx, putPendingTOTP, t.UserID, t.Sealed, t.CreatedAt).Scan(&id)
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == foreignKeyViolation:
		return fail("put pending totp", pgx.ErrNoRows)
	case errors.Is(err, pgx.ErrNoRows):
		return fail("put pending totp", latchkey.ErrConflict)
	case err != nil:
		return fail("put pending totp", err)
	}
	return nil
}

// TOTPOf returns the user's TOTP; ErrNotFound when there is none.
func (s *Store) TOTPOf(ctx context.Context, userID int64) (latchkey.TOTP, error) {
	t := latchkey.TOTP{UserID: userID}
	err := s.pool.QueryRow(ctx, `SELECT sealed, confirmed, last_step, created_at FROM totp WHERE user_id = $1`, userID).
		Scan(&t.Sealed, &t.Confirmed, &t.LastStep, &t.CreatedAt)
	if err != nil {
		return latchkey.TOTP{}, fail("totp of", err)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// ConfirmTOTP confirms the pending TOTP sealed, replaces the recovery
// codes and marks the user, in one transaction. The mark is an UPDATE of
// the user row, which a login's CreateSession updates too: whichever
// comes second waits for the first's commit, and a login then finds the
// mark.
func (s *Store) ConfirmTOTP(ctx context.Context, userID int64, sealed []byte, step int64, codes []latchkey.Digest) error {
	ds := make([][]byte, len(codes))
	for i := range codes {
		ds[i] = codes[i][:]
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE totp SET confirmed = true, last_step = $3
WHERE user_id = $1 AND NOT confirmed AND sealed = $2`, userID, sealed, step)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET mfa = true WHERE id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, digest)
SELECT $1, d FROM unnest($2::bytea[]) AS d ON CONFLICT DO NOTHING`, userID, ds)
		return err
	})
	if err != nil {
		return fail("confirm totp", err)
	}
	return nil
}

// AcceptTOTPStep moves the confirmed TOTP's last step forward to step.
func (s *Store) AcceptTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE totp SET last_step = $2 WHERE user_id = $1 AND confirmed AND last_step < $2`, userID, step)
	if err != nil {
		return false, fail("accept totp step", err)
	}
	return tag.RowsAffected() == 1, nil
}

// UseRecoveryCode deletes the user's recovery code d.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, d latchkey.Digest) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1 AND digest = $2`, userID, d[:])
	if err != nil {
		return false, fail("use recovery code", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, fail("recovery codes left", err)
	}
	return n, nil
}

// deleteMFA removes the second factors of the user, and when $2 every
// session, writing the change entries, in one statement.
const deleteMFA = `WITH u AS (
    UPDATE users SET mfa = false WHERE id = $1 RETURNING id
), t AS (
    DELETE FROM totp WHERE user_id = $1
), r AS (
    DELETE FROM recovery_codes WHERE user_id = $1
), c AS (
    DELETE FROM mfa_challenges WHERE user_id = $1
), d AS (
    DELETE FROM sessions WHERE user_id = $1 AND $2::boolean AND EXISTS (SELECT FROM u) RETURNING user_id, digest
)
INSERT INTO changes (user_id, session, digest)
SELECT user_id, true, digest FROM d
UNION ALL
SELECT id, false, NULL FROM u
RETURNING session, digest`

// DeleteMFA removes every second factor of the user, and with revoke
// every session.
func (s *Store) DeleteMFA(ctx context.Context, userID int64, revoke bool) ([]latchkey.Digest, error) {
	var (
		ds    []latchkey.Digest
		found bool
	)
	err := s.writeChanges(ctx, "delete mfa", deleteMFA, []any{userID, revoke}, revokedRow(&ds, &found))
	if err == nil && !found {
		err = fail("delete mfa", pgx.ErrNoRows)
	}
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// CreateMFAChallenge stores c.
func (s *Store) CreateMFAChallenge(ctx context.Context, c latchkey.MFAChallenge) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO mfa_challenges
(digest, user_id, hash_digest, device_name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.Digest[:], c.UserID, c.HashDigest[:], c.DeviceName, c.CreatedAt, c.ExpiresAt)
	if err != nil {
		return fail("create mfa challenge", err)
	}
	return nil
}

// AttemptMFAChallenge counts an attempt at a live challenge.
func (s *Store) AttemptMFAChallenge(ctx context.Context, d latchkey.Digest, now time.Time, max int) (latchkey.MFAChallenge, error) {
	c := latchkey.MFAChallenge{Digest: d}
	var hd []byte
	err := s.pool.QueryRow(ctx, `UPDATE mfa_challenges SET attempts = attempts + 1
WHERE digest = $1 AND expires_at > $2 AND attempts < $3
RETURNING user_id, hash_digest, device_name, created_at, expires_at, attempts`, d[:], now, max).
		Scan(&c.UserID, &hd, &c.DeviceName, &c.CreatedAt, &c.ExpiresAt, &c.Attempts)
	if err == nil {
		c.HashDigest, err = digest(hd)
	}
	if err != nil {
		return latchkey.MFAChallenge{}, fail("attempt mfa challenge", err)
	}
	c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	return c, nil
}

// UseMFAChallenge deletes the challenge d.
func (s *Store) UseMFAChallenge(ctx context.Context, d latchkey.Digest) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM mfa_challenges WHERE digest = $1`, d[:])
	if err != nil {
		return fail("use mfa challenge", err)
	}
	if tag.RowsAffected() == 0 {
		return fail("use mfa challenge", pgx.ErrNoRows)
	}
	return nil
}

// MFAKeyCheck stores check when no check value is stored, and compares.
func (s *Store) MFAKeyCheck(ctx context.Context, check []byte) (bool, error) {
	var stored []byte
	err := s.pool.QueryRow(ctx, `WITH i AS (
    INSERT INTO mfa_key (id, check_value) VALUES (1, $1) ON CONFLICT (id) DO NOTHING RETURNING check_value
)
SELECT check_value FROM i UNION ALL SELECT check_value FROM mfa_key WHERE id = 1 LIMIT 1`, check).Scan(&stored)
	if err != nil {
		return false, fail("mfa key check", err)
	}
	return bytes.Equal(stored, check), nil
}
