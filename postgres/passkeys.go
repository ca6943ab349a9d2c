package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkeyhq/latchkey"
)

// Passkeys (latchkey.PasskeyStore). The counter's move is one
// conditional UPDATE: under READ COMMITTED, of two that wait on one row,
// the second rechecks its condition against the first's commit.

const passkeyColumns = `credential_id, user_id, public_key, sign_count, transports, aaguid, attestation_type,
backup_eligible, backup_state, name, created_at, last_used_at`

// CreatePasskey stores p; ErrConflict when its credential id is stored.
func (s *Store) CreatePasskey(ctx context.Context, p latchkey.Passkey) error {
	transports := p.Transports
	if transports == nil {
		transports = []string{}
	}
	aaguid := p.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)`,
		p.CredentialID, p.UserID, p.PublicKey, int64(p.SignCount), transports, aaguid, p.AttestationType,
		p.BackupEligible, p.BackupState, p.Name, p.CreatedAt)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == foreignKeyViolation {
		return fail("create passkey", pgx.ErrNoRows)
	}
	if err != nil {
		return fail("create passkey", err)
	}
	return nil
}

func scanPasskey(row pgx.Row) (latchkey.Passkey, error) {
	var (
		p     latchkey.Passkey
		count int64
		used  *time.Time
	)
	err := row.Scan(&p.CredentialID, &p.UserID, &p.PublicKey, &count, &p.Transports, &p.AAGUID, &p.AttestationType,
		&p.BackupEligible, &p.BackupState, &p.Name, &p.CreatedAt, &used)
	if err != nil {
		return latchkey.Passkey{}, err
	}
	p.SignCount = uint32(count)
	if len(p.Transports) == 0 {
		p.Transports = nil
	}
	p.CreatedAt = p.CreatedAt.UTC()
	if used != nil {
		p.LastUsedAt = used.UTC()
	}
	return p, nil
}

// PasskeysOf returns the user's passkeys, oldest first.
func (s *Store) PasskeysOf(ctx context.Context, userID int64) ([]latchkey.Passkey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1
ORDER BY created_at, credential_id`, userID)
	if err != nil {
		return nil, fail("passkeys of", err)
	}
	defer rows.Close()
	var ps []latchkey.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fail("passkeys of", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("passkeys of", err)
	}
	return ps, nil
}

// PasskeyByCredentialID returns the passkey of credentialID.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (latchkey.Passkey, error) {
	p, err := scanPasskey(s.pool.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1`, credentialID))
	if err != nil {
		return latchkey.Passkey{}, fail("passkey by credential id", err)
	}
	return p, nil
}

// UsePasskey records an assertion if the stored counter is u.OldCount.
func (s *Store) UsePasskey(ctx context.Context, u latchkey.PasskeyUse) error {
	tag, err := s.pool.Exec(ctx, `UPDATE passkeys SET sign_count = $2, backup_state = $3, last_used_at = $4
WHERE credential_id = $1 AND sign_count = $5`,
		u.CredentialID, int64(u.NewCount), u.BackupState, u.At, int64(u.OldCount))
	if err != nil {
		return fail("use passkey", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM passkeys WHERE credential_id = $1)`, u.CredentialID).Scan(&ok); err != nil {
		return fail("use passkey", err)
	}
	if !ok {
		return fail("use passkey", pgx.ErrNoRows)
	}
	return fail("use passkey", latchkey.ErrConflict)
}

// DeletePasskey removes the user's passkey of credentialID.
func (s *Store) DeletePasskey(ctx context.Context, userID int64, credentialID []byte) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM passkeys WHERE user_id = $1 AND credential_id = $2`, userID, credentialID)
	if err != nil {
		return fail("delete passkey", err)
	}
	if tag.RowsAffected() == 0 {
		return fail("delete passkey", pgx.ErrNoRows)
	}
	return nil
}
