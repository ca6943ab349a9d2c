package django_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/django"
	"github.com/latchkeyhq/latchkey/django/djangotest"
)

// records is what a reader handed over, in order.
type records struct {
	users  []django.User
	tokens []django.Token
}

func (r *records) handler() django.Handler {
	return django.Handler{
		User:  func(u django.User) error { r.users = append(r.users, u); return nil },
		Token: func(t django.Token) error { r.tokens = append(r.tokens, t); return nil },
	}
}

// source is one way of reading the fixtures.
type source struct {
	name string
	read func(ctx context.Context, h django.Handler) error
}

// sources returns the three fixture sources; the PostgreSQL one only when
// LATCHKEY_TEST_POSTGRES_URL is set (or under CI, where it must be).
func sources(t *testing.T) []source {
	t.Helper()
	dump := djangotest.Path(t, "dumpdata.json")
	db := djangotest.Path(t, "django.sqlite3")
	ss := []source{
		{"dumpdata", func(ctx context.Context, h django.Handler) error {
			f, err := os.Open(dump)
			if err != nil {
				return err
			}
			defer f.Close()
			return django.Reader{}.Dumpdata(ctx, f, h)
		}},
		{"sqlite", func(ctx context.Context, h django.Handler) error {
			return django.Reader{}.SQLite(ctx, db, h)
		}},
	}
	if os.Getenv("LATCHKEY_TEST_POSTGRES_URL") != "" || os.Getenv("CI") == "true" {
		u := djangotest.Postgres(t)
		ss = append(ss, source{"postgres", func(ctx context.Context, h django.Handler) error {
			return django.Reader{}.Postgres(ctx, u, h)
		}})
	} else {
		t.Log("the PostgreSQL source is skipped: LATCHKEY_TEST_POSTGRES_URL is not set")
	}
	return ss
}

func TestReadFixtures(t *testing.T) {
	want := djangotest.Users(t)
	var first *records
	for _, src := range sources(t) {
		t.Run(src.name, func(t *testing.T) {
			var got records
			if err := src.read(t.Context(), got.handler()); err != nil {
				t.Fatalf("read: %v", err)
			}
			if len(got.users) != len(want) {
				t.Fatalf("read %d users, want %d", len(got.users), len(want))
			}
			for i, u := range got.users {
				w, ok := want[u.Username]
				switch {
				case !ok:
					t.Errorf("unknown user %q", u.Username)
					continue
				case i > 0 && u.ID <= got.users[i-1].ID:
					t.Errorf("users not in id order: %d after %d", u.ID, got.users[i-1].ID)
				}
				if u.ID != w.ID || u.Password != w.Encoded || u.IsActive != w.Active {
					t.Errorf("%s: id %d, hash %q, active %v; want %d, %q, %v", u.Username, u.ID, u.Password, u.IsActive, w.ID, w.Encoded, w.Active)
				}
				if u.Email != u.Username+"@example.com" || u.FirstName != strings.ToUpper(u.Username[:1])+u.Username[1:] || u.LastName != "" {
					t.Errorf("%s: email %q, names %q %q", u.Username, u.Email, u.FirstName, u.LastName)
				}
				if !u.LastLogin.IsZero() {
					t.Errorf("%s: last login %v, want none", u.Username, u.LastLogin)
				}
				if d := u.DateJoined.Sub(djangotest.Created); d < 0 || d > time.Minute || u.DateJoined.Location() != time.UTC {
					t.Errorf("%s: date joined %v, want UTC just after %v", u.Username, u.DateJoined, djangotest.Created)
				}
			}
			byID := map[int64]string{}
			for _, u := range got.users {
				byID[u.ID] = u.Username
			}
			var keys []string
			for _, tok := range got.tokens {
				name := byID[tok.UserID]
				if w := want[name]; w.Token == nil || *w.Token != string(tok.Key) {
					t.Errorf("token of user %d (%s) is not the one in users.json", tok.UserID, name)
				}
				if d := tok.Created.Sub(djangotest.Created); d < 0 || d > time.Minute {
					t.Errorf("token of %s created %v, want just after %v", name, tok.Created, djangotest.Created)
				}
				keys = append(keys, name)
			}
			var wantKeys []string
			for name, w := range want {
				if w.Token != nil {
					wantKeys = append(wantKeys, name)
				}
			}
			slices.Sort(keys)
			slices.Sort(wantKeys)
			if !slices.Equal(keys, wantKeys) {
				t.Errorf("tokens of %v, want %v", keys, wantKeys)
			}
			// The sources agree, at the millisecond dumpdata keeps.
			if first == nil {
				first = &got
				return
			}
			for i, u := range got.users {
				f := first.users[i]
				if u.DateJoined.Truncate(time.Millisecond) != f.DateJoined.Truncate(time.Millisecond) {
					t.Errorf("%s: date joined %v, the first source read %v", u.Username, u.DateJoined, f.DateJoined)
				}
			}
		})
	}
}

const dumpUser = `{"model": "auth.user", "pk": 7, "fields": {"password": "md5$s$h", "last_login": %s, "is_superuser": false,
 "username": "gina", "first_name": "Gina", "last_name": "G", "email": "gina@example.com", "is_staff": false,
 "is_active": false, "date_joined": %s, "groups": [], "user_permissions": []}}`

const dumpToken = `{"model": "authtoken.token", "pk": "273b9388c232eac87fc9a4d02a3fb3a4ec9d78d4", "fields": {"user": %s, "created": "2026-11-28T19:55:50.457Z"}}`

func userJSON(lastLogin, joined string) string {
	return strings.Replace(strings.Replace(dumpUser, "%s", lastLogin, 1), "%s", joined, 1)
}

func tokenJSON(user string) string { return strings.Replace(dumpToken, "%s", user, 1) }

// dumpCases are the table of TestDumpdata and the seeds of FuzzDumpdata.
var dumpCases = []struct {
	name   string
	in     string
	reader django.Reader
	users  int
	tokens int
	err    string // a substring of the error; empty: none
}{
	{"empty array", "[]", django.Reader{}, 0, 0, ""},
	{"blank", " \n ", django.Reader{}, 0, 0, "empty input"},
	{"user and token", "[" + userJSON("null", `"2026-11-28T19:55:51.664Z"`) + ",\n" + tokenJSON("7") + "]\n", django.Reader{}, 1, 1, ""},
	{"naive times", "[" + userJSON(`"2026-11-28T20:00:00"`, `"2026-11-28T19:55:51.664"`) + "]", django.Reader{}, 1, 0, ""},
	{"offset times", "[" + userJSON(`"2026-11-28T22:00:00+02:00"`, `"2026-11-28T21:55:51.664+02:00"`) + "]", django.Reader{}, 1, 0, ""},
	{"json lines", userJSON("null", `"2026-11-28T19:55:51.664Z"`) + "\n" + tokenJSON("7") + "\n", django.Reader{}, 1, 1, ""},
	{"byte order mark", "\xef\xbb\xbf[" + tokenJSON("7") + "]", django.Reader{}, 0, 1, ""},
	{"natural foreign key", "[" + tokenJSON(`["gina"]`) + "]", django.Reader{}, 0, 1, ""},
	{"other models", `[{"model": "auth.group", "pk": 1, "fields": {"name": "staff", "permissions": []}},` +
		`{"model": "sessions.session", "pk": "abc", "fields": {"session_data": "x", "expire_date": "2026-01-01T00:00:00Z"}}]`, django.Reader{}, 0, 0, ""},
	{"custom user model", "[" + strings.Replace(userJSON("null", `"2026-11-28T19:55:51Z"`), "auth.user", "accounts.user", 1) + "," +
		userJSON("null", `"2026-11-28T19:55:51Z"`) + "]", django.Reader{UserModel: "accounts.User"}, 1, 0, ""},
	{"natural primary key", `[{"model": "auth.user", "fields": {"username": "a", "password": "x", "is_active": true, "date_joined": "2026-11-28T19:55:51Z"}}]`,
		django.Reader{}, 0, 0, "--natural-primary"},
	{"no username", `[{"model": "auth.user", "pk": 1, "fields": {"password": "x", "date_joined": "2026-11-28T19:55:51Z"}}]`, django.Reader{}, 0, 0, `"username"`},
	{"no password", `[{"model": "auth.user", "pk": 1, "fields": {"username": "a", "date_joined": "2026-11-28T19:55:51Z"}}]`, django.Reader{}, 0, 0, `"password"`},
	{"bad time", "[" + userJSON("null", `"yesterday"`) + "]", django.Reader{}, 0, 0, "date_joined"},
	{"bad pk", `[{"model": "auth.user", "pk": "seven", "fields": {}}]`, django.Reader{}, 0, 0, "not an integer"},
	{"bad token pk", `[{"model": "authtoken.token", "pk": 5, "fields": {"user": 1, "created": "2026-11-28T19:55:51Z"}}]`, django.Reader{}, 0, 0, "token key"},
	{"token without user", `[{"model": "authtoken.token", "pk": "k", "fields": {"created": "2026-11-28T19:55:51Z"}}]`, django.Reader{}, 0, 0, `"user"`},
	{"wrong type", `[{"model": "auth.user", "pk": 1, "fields": {"username": 5, "password": "x"}}]`, django.Reader{}, 0, 0, "fields"},
	{"invalid UTF-8", "[" + strings.Replace(userJSON("null", `"2026-11-28T19:55:51Z"`), "Gina", "G\xffna", 1) + "]", django.Reader{}, 0, 0, "UTF-8"},
	{"truncated", "[" + userJSON("null", `"2026-11-28T19:55:51Z"`), django.Reader{}, 1, 0, "unexpected EOF"},
	{"trailing data", "[] []", django.Reader{}, 0, 0, "after the closing"},
	{"not JSON", "users: alice", django.Reader{}, 0, 0, "want a JSON array"},
	{"bad label", "[]", django.Reader{UserModel: "auth.user; DROP TABLE x"}, 0, 0, "label"},
}

func TestDumpdata(t *testing.T) {
	for _, tc := range dumpCases {
		t.Run(tc.name, func(t *testing.T) {
			var got records
			err := tc.reader.Dumpdata(t.Context(), strings.NewReader(tc.in), got.handler())
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Dumpdata = %v, want an error with %q", err, tc.err)
			}
			if len(got.users) != tc.users || len(got.tokens) != tc.tokens {
				t.Errorf("read %d users, %d tokens; want %d, %d", len(got.users), len(got.tokens), tc.users, tc.tokens)
			}
		})
	}
}

func TestDumpdataFields(t *testing.T) {
	in := "[" + userJSON(`"2026-11-28T22:00:00.5+02:00"`, `"2026-11-28T19:55:51.664"`) + "," +
		tokenJSON("7") + "," + tokenJSON(`["gina"]`) + "]"
	var got records
	if err := (django.Reader{}).Dumpdata(t.Context(), strings.NewReader(in), got.handler()); err != nil {
		t.Fatal(err)
	}
	want := django.User{
		ID: 7, Username: "gina", Email: "gina@example.com", FirstName: "Gina", LastName: "G", Password: "md5$s$h",
		IsActive:   false,
		LastLogin:  time.Date(2026, 11, 28, 20, 0, 0, 500e6, time.UTC),
		DateJoined: time.Date(2026, 11, 28, 19, 55, 51, 664e6, time.UTC),
	}
	if len(got.users) != 1 || got.users[0] != want {
		t.Errorf("users = %+v, want [%+v]", got.users, want)
	}
	created := time.Date(2026, 11, 28, 19, 55, 50, 457e6, time.UTC)
	wantTokens := []django.Token{
		{Key: "273b9388c232eac87fc9a4d02a3fb3a4ec9d78d4", UserID: 7, Created: created},
		{Key: "273b9388c232eac87fc9a4d02a3fb3a4ec9d78d4", Username: "gina", Created: created},
	}
	if !slices.Equal(got.tokens, wantTokens) {
		t.Errorf("tokens = %+v, want %+v", got.tokens, wantTokens)
	}
}

func TestDumpdataGzip(t *testing.T) {
	raw, err := os.ReadFile(djangotest.Path(t, "dumpdata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	var plain, gz records
	if err := (django.Reader{}).Dumpdata(t.Context(), bytes.NewReader(raw), plain.handler()); err != nil {
		t.Fatal(err)
	}
	if err := (django.Reader{}).Dumpdata(t.Context(), &buf, gz.handler()); err != nil {
		t.Fatalf("gzipped: %v", err)
	}
	if !slices.Equal(plain.users, gz.users) || !slices.Equal(plain.tokens, gz.tokens) {
		t.Error("the gzipped dump reads differently")
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestDumpdataStreams(t *testing.T) {
	// A dump far larger than any buffer: the first user must arrive long
	// before the end is read.
	var b strings.Builder
	b.WriteString("[")
	for i := range 20_000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(strings.Replace(userJSON("null", `"2026-11-28T19:55:51Z"`), `"pk": 7`, `"pk": `+strconv.Itoa(i+1), 1))
	}
	b.WriteString("]")
	in := &countingReader{r: strings.NewReader(b.String())}
	readAtFirst := -1
	n := 0
	err := django.Reader{}.Dumpdata(t.Context(), in, django.Handler{User: func(django.User) error {
		if readAtFirst < 0 {
			readAtFirst = in.n
		}
		n++
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n != 20_000 {
		t.Fatalf("read %d users, want 20000", n)
	}
	if readAtFirst > 1<<20 || readAtFirst*10 > b.Len() {
		t.Errorf("%d of %d bytes were read before the first user arrived: the reader does not stream", readAtFirst, b.Len())
	}
}

func TestHandlerErrorStops(t *testing.T) {
	stop := errors.New("stop")
	for _, src := range sources(t) {
		t.Run(src.name, func(t *testing.T) {
			n := 0
			err := src.read(t.Context(), django.Handler{
				User:  func(django.User) error { n++; return stop },
				Token: func(django.Token) error { n++; return nil },
			})
			if err != stop || n != 1 {
				t.Errorf("read = %v after %d records, want the handler's own error after 1", err, n)
			}
		})
	}
}

func TestCanceled(t *testing.T) {
	for _, src := range sources(t) {
		t.Run(src.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			err := src.read(ctx, django.Handler{})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("read with a canceled context = %v, want context.Canceled", err)
			}
		})
	}
}

func TestMissingDatabase(t *testing.T) {
	err := django.Reader{}.SQLite(t.Context(), t.TempDir()+"/missing.sqlite3", django.Handler{})
	if err == nil {
		t.Error("reading a missing SQLite file succeeded; want an error (and no file created)")
	}
}

func FuzzDumpdata(f *testing.F) {
	for _, tc := range dumpCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		err := django.Reader{}.Dumpdata(context.Background(), bytes.NewReader(in), django.Handler{
			User: func(u django.User) error {
				if !u.LastLogin.IsZero() && u.LastLogin.Location() != time.UTC {
					t.Errorf("last login not in UTC: %v", u.LastLogin)
				}
				return nil
			},
			Token: func(tok django.Token) error {
				if tok.UserID == 0 && tok.Username == "" {
					t.Errorf("token without a user")
				}
				if tok.Created.Location() != time.UTC {
					t.Errorf("created not in UTC: %v", tok.Created)
				}
				return nil
			},
		})
		_ = err // any input may be refused; none may panic or hand over a bad record
	})
}
