package latchkey_test

import (
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/latchkeyhq/latchkey"
)

func TestLoadMigrations(t *testing.T) {
	files := func(names ...string) fstest.MapFS {
		fsys := fstest.MapFS{}
		for _, n := range names {
			fsys["migrations/"+n] = &fstest.MapFile{Data: []byte("-- " + n)}
		}
		return fsys
	}
	for _, tt := range []struct {
		name string
		fsys fstest.MapFS
		want []int64 // the versions, in order
		err  string
	}{
		{"Empty", fstest.MapFS{"migrations": &fstest.MapFile{Mode: fs.ModeDir}}, nil, ""},
		{"InOrder", files("0002_index.sql", "0001_init.sql", "0010_more.sql"), []int64{1, 2, 10}, ""},
		{"NoDir", fstest.MapFS{}, nil, "open migrations: file does not exist"},
		{"NoUnderscore", files("0001init.sql"), nil, "migration 0001init.sql: name must start with a positive number and '_'"},
		{"NotANumber", files("init_1.sql"), nil, "migration init_1.sql: name must start with a positive number and '_'"},
		{"Zero", files("0000_init.sql"), nil, "migration 0000_init.sql: name must start with a positive number and '_'"},
		{"Negative", files("-1_init.sql"), nil, "migration -1_init.sql: name must start with a positive number and '_'"},
		{"SameVersion", files("0001_init.sql", "0001_again.sql"), nil, "migration 0001_init.sql: version 1 is not after 1"},
		// The names sort before the versions do: 10 comes before 9.
		{"Unpadded", files("9_a.sql", "10_b.sql"), nil, "migration 9_a.sql: version 9 is not after 10"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := latchkey.LoadMigrations(tt.fsys)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("LoadMigrations = %v, want error %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadMigrations: %v", err)
			}
			var got []int64
			for _, m := range ms {
				got = append(got, m.Version)
				if want := "-- " + m.Name; m.SQL != want {
					t.Errorf("migration %s: SQL %q, want %q", m.Name, m.SQL, want)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("versions %v, want %v", got, tt.want)
			}
		})
	}
}
