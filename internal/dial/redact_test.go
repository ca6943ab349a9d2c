package dial

import (
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	goredis "github.com/redis/go-redis/v9"
)

var redactCases = []struct{ in, want string }{
	{"memory", "memory"},
	{"sqlite:latchkey.db", "sqlite:latchkey.db"},
	{"sqlite:/var/lib/a%zz.db", "sqlite:/var/lib/a%zz.db"},
	{"latchkey.db", "latchkey.db"},
	{"postgres://u@db:5432/x?sslmode=disable", "postgres://u@db:5432/x?sslmode=disable"},
	{"postgres://u:secret@db:5432/x?sslmode=disable", "postgres://u:xxxxx@db:5432/x?sslmode=disable"},
	{"postgres://u:se%40cret@db/x", "postgres://u:xxxxx@db/x"},
	{"postgres://u:se@cret@db/x", "postgres://u:xxxxx@db/x"},
	{"redis://:secret@cache:6379/1", "redis://:xxxxx@cache:6379/1"},
	{"redis://default:secret@cache/1", "redis://default:xxxxx@cache/1"},
	{"rediss://u@cache/1", "rediss://u@cache/1"},
	{"postgres://u@db/x?password=secret&sslmode=require", "postgres://u@db/x?password=xxxxx&sslmode=require"},
	{"postgres://u@db/x?sslpassword=secret", "postgres://u@db/x?sslpassword=xxxxx"},
	{"postgres://u@db/x?pass%77ord=secret", "postgres://u@db/x?pass%77ord=xxxxx"},
	{"mysql://u:secret@db/x", "mysql://u:xxxxx@db/x"},
	// A slash, a question mark or a hash in a password: the URL parser
	// and the drivers disagree on where it ends.
	{"mysql://u:12/secret@db/x", "mysql://[redacted]"},
	{"postgres://u:12?secret@db/x", "postgres://[redacted]"},
	{"postgres://u:12#secret@db/x", "postgres://[redacted]"},
	{"postgres://u:se/cret@db/x", "postgres://[redacted]"},
	{"postgres:u:secret@db", "postgres:[redacted]"},
	{"host=db password=secret", "[redacted]"},
	{"u:secret@db/x", "u:[redacted]"},
	{"sqlite:/var/lib/odd@name.db", "sqlite:[redacted]"},
}

func TestRedactURL(t *testing.T) {
	for _, tc := range redactCases {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzRedactURL holds RedactURL to what the drivers read: whatever
// password pgx or go-redis would take from a string is not in the
// string redacted.
func FuzzRedactURL(f *testing.F) {
	for _, tc := range redactCases {
		f.Add(tc.in)
	}
	f.Add("postgres://u:pw1234@h1,h2:5433/x?target_session_attrs=any")
	f.Add("unix://u:pw1234@/tmp/redis.sock?db=2")
	f.Add("user=u password='a b c d' host=db")
	f.Fuzz(func(t *testing.T, s string) {
		out := RedactURL(s)
		var passwords []string
		if c, err := pgconn.ParseConfig(s); err == nil {
			passwords = append(passwords, c.Password)
		}
		if o, err := goredis.ParseURL(s); err == nil {
			passwords = append(passwords, o.Password)
		}
		// Compare decoded forms, without the masks; skip passwords too
		// short to tell from the rest, and those the string holds twice.
		in, err := url.PathUnescape(s)
		if err != nil {
			in = s
		}
		masked := strings.NewReplacer("xxxxx", "\x00", "[redacted]", "\x00").Replace(out)
		if d, err := url.PathUnescape(masked); err == nil {
			masked = d
		}
		for _, p := range passwords {
			if len(p) < 4 || strings.Count(in, p) != 1 {
				continue
			}
			if strings.Contains(masked, p) {
				t.Fatalf("RedactURL(%q) = %q, which holds the password %q", s, out, p)
			}
		}
	})
}
