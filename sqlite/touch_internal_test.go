package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTouchPlans: each touch statement finds its sessions by the key it
// is given, never by a scan (a plan that changed with the driver's SQLite
// would make every flush read the table).
func TestTouchPlans(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, sql, want string }{
		{"byRowid", touchByRowid, "SEARCH sessions USING INTEGER PRIMARY KEY (rowid=?)"},
		{"byDigest", touchByDigest, "SEARCH sessions USING INDEX sqlite_autoindex_sessions_2 (digest=?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.w.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.sql, "[]", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(plan, "\n"); !strings.Contains(got, tc.want) {
				t.Errorf("plan:\n%s\nwant a step %q", got, tc.want)
			}
		})
	}
}
