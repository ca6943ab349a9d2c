package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
)

// scanServiceClient reads a row of name, digest, created_at.
func scanServiceClient(row pgx.Row) (latchkey.ServiceClient, error) {
	var (
		c latchkey.ServiceClient
		d []byte
	)
	if err := row.Scan(&c.Name, &d, &c.CreatedAt); err != nil {
		return latchkey.ServiceClient{}, err
	}
	var err error
	if c.Digest, err = digest(d); err != nil {
		return latchkey.ServiceClient{}, fmt.Errorf("service client %q: %w", c.Name, err)
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return c, nil
}

// CreateServiceClient records c; a taken name is ErrConflict. It writes no
// change entry: no cache holds service clients.
func (s *Store) CreateServiceClient(ctx context.Context, c latchkey.ServiceClient) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO service_clients (name, digest, created_at) VALUES ($1, $2, $3)`,
		c.Name, c.Digest[:], c.CreatedAt)
	if err != nil {
		return fail("create service client", err)
	}
	return nil
}

// ServiceClientByName returns the client named name, or ErrNotFound.
func (s *Store) ServiceClientByName(ctx context.Context, name string) (latchkey.ServiceClient, error) {
	c, err := scanServiceClient(s.pool.QueryRow(ctx, `SELECT name, digest, created_at FROM service_clients WHERE name = $1`, name))
	if err != nil {
		return latchkey.ServiceClient{}, fail("service client by name", err)
	}
	return c, nil
}

// ListServiceClients returns every client, ordered by name (bytewise, as
// SQLite orders them, whatever the database's collation).
func (s *Store) ListServiceClients(ctx context.Context) ([]latchkey.ServiceClient, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, digest, created_at FROM service_clients ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fail("list service clients", err)
	}
	cs, err := pgx.AppendRows([]latchkey.ServiceClient(nil), rows, func(row pgx.CollectableRow) (latchkey.ServiceClient, error) {
		return scanServiceClient(row)
	})
	if err != nil {
		return nil, fail("list service clients", err)
	}
	return cs, nil
}

// DeleteServiceClient removes the client named name, or returns
// ErrNotFound.
func (s *Store) DeleteServiceClient(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM service_clients WHERE name = $1`, name)
	if err != nil {
		return fail("delete service client", err)
	}
	if tag.RowsAffected() == 0 {
		return fail("delete service client", pgx.ErrNoRows)
	}
	return nil
}
