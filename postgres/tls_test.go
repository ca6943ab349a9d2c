package postgres_test

import (
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/postgres/pgtest"
	"github.com/latchkeyhq/latchkey/tlstest"
)

// TestVerifyFull connects to a cluster of the test's own that takes TLS
// only, with a certificate of the test's CA for 127.0.0.1 and localhost:
// sslmode=verify-full with that CA as sslrootcert opens a store whose
// connections use TLS, and refuses a server the CA did not sign, or whose
// certificate does not name the address dialled.
func TestVerifyFull(t *testing.T) {
	pgtest.ServerURL(t) // what enables the PostgreSQL tests
	ca := tlstest.NewCA(t)
	srv := pgtest.StartTLSServer(t, ca)
	other := tlstest.NewCA(t)
	for _, tt := range []struct {
		name, url, wantErr string
	}{
		{"the CA", srv.URL(), ""},
		{"localhost", srv.URLWith("localhost", "sslmode=verify-full", "sslrootcert="+ca.File), ""},
		{"another CA", srv.URLWith("127.0.0.1", "sslmode=verify-full", "sslrootcert="+other.File),
			"certificate signed by unknown authority"},
		{"an address the certificate does not name", srv.URLWith("127.0.0.2", "sslmode=verify-full", "sslrootcert="+ca.File),
			"certificate is valid for 127.0.0.1, not 127.0.0.2"},
		// verify-ca checks the chain alone: what verify-full adds is the name.
		{"verify-ca, that address", srv.URLWith("127.0.0.2", "sslmode=verify-ca", "sslrootcert="+ca.File), ""},
		// The cluster takes TLS only, so the cases above did use it.
		{"no TLS", srv.URLWith("127.0.0.1", "sslmode=disable"), "no pg_hba.conf entry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.Open(t.Context(), tt.url)
			if tt.wantErr != "" {
				if err == nil {
					s.Close()
					t.Fatalf("Open succeeded, want %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			var ssl bool
			var version string
			err = s.Pool().QueryRow(t.Context(), "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version)
			if err != nil || !ssl || version != "TLSv1.3" {
				t.Fatalf("pg_stat_ssl: ssl %v, version %q, %v", ssl, version, err)
			}
		})
	}
}
