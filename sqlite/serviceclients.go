package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/latchkeyhq/latchkey"
)

// scanServiceClient reads a row of name, digest, created_at.
func scanServiceClient(row interface{ Scan(...any) error }) (latchkey.ServiceClient, error) {
	var (
		c       latchkey.ServiceClient
		d       []byte
		created int64
	)
	if err := row.Scan(&c.Name, &d, &created); err != nil {
		return latchkey.ServiceClient{}, err
	}
	var err error
	if c.Digest, err = digest(d); err != nil {
		return latchkey.ServiceClient{}, fmt.Errorf("service client %q: %w", c.Name, err)
	}
	c.CreatedAt = fromMicros(created)
	return c, nil
}

// CreateServiceClient records c; a taken name is ErrConflict. It writes no
// change entry: no cache holds service clients.
func (s *Store) CreateServiceClient(ctx context.Context, c latchkey.ServiceClient) error {
	return s.write(ctx, "create service client", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO service_clients (name, digest, created_at) VALUES (?, ?, ?)`,
			c.Name, c.Digest[:], micros(c.CreatedAt))
		return err
	})
}

// ServiceClientByName returns the client named name, or ErrNotFound.
func (s *Store) ServiceClientByName(ctx context.Context, name string) (latchkey.ServiceClient, error) {
	c, err := scanServiceClient(s.r.QueryRowContext(ctx, `SELECT name, digest, created_at FROM service_clients WHERE name = ?`, name))
	if err != nil {
		return latchkey.ServiceClient{}, fail("service client by name", err)
	}
	return c, nil
}

// ListServiceClients returns every client, ordered by name.
func (s *Store) ListServiceClients(ctx context.Context) ([]latchkey.ServiceClient, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, digest, created_at FROM service_clients ORDER BY name`)
	if err != nil {
		return nil, fail("list service clients", err)
	}
	defer rows.Close()
	var cs []latchkey.ServiceClient
	for rows.Next() {
		c, err := scanServiceClient(rows)
		if err != nil {
			return nil, fail("list service clients", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list service clients", err)
	}
	return cs, nil
}

// DeleteServiceClient removes the client named name, or returns
// ErrNotFound.
func (s *Store) DeleteServiceClient(ctx context.Context, name string) error {
	return s.write(ctx, "delete service client", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM service_clients WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = sql.ErrNoRows
			}
			return err
		}
		return nil
	})
}
