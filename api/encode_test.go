package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"
	"unsafe"

	"github.com/latchkeyhq/latchkey"
)

// strangeStrings are the strings encoding/json treats specially: quotes,
// escapes, HTML characters, control characters, the JavaScript line
// separators, invalid UTF-8, and text that is simply not ASCII.
var strangeStrings = []string{
	"", "alice", `a"b`, `back\slash`, "<script>&amp;</script>", "tab\there", "nul\x00", "\x7f",
	"line\u2028sep\u2029", "bad\xffutf8", "\xc3", "Zoë Ünal", "日本語", "emoji 🙂", "\ufffd",
}

func TestAppendUserMatchesEncodingJSON(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", -7*3600+1800)}
	times := []time.Time{
		{},
		time.Date(2026, 11, 28, 23, 42, 3, 311365000, zones[0]),
		time.Date(1999, 1, 2, 3, 4, 5, 0, zones[1]),
		time.Date(2030, 6, 1, 0, 0, 0, 1, zones[1]),
	}
	for i, s := range strangeStrings {
		for j, tm := range times {
			u := latchkey.User{
				ID: int64(i*len(times) + j - 3), Username: s, Email: s + "@example.com",
				FirstName: strangeStrings[(i+1)%len(strangeStrings)], LastName: s,
				Active: true, LastLogin: tm, DateJoined: times[(j+1)%len(times)],
			}
			checkAppendUser(t, u)
		}
	}
}

func checkAppendUser(t *testing.T, u latchkey.User) {
	t.Helper()
	want, err := json.Marshal(newUserJSON(u))
	if err != nil {
		t.Fatal(err)
	}
	if got := appendUser(nil, u); string(got) != string(want) {
		t.Errorf("appendUser(%+v)\n got %s\nwant %s", u, got, want)
	}
}

// TestMeBody checks the whole answer of /v1/me: status, headers and the
// body writeJSON would have written, formatted anew whenever a field it
// shows changes, and only then.
func TestMeBody(t *testing.T) {
	s := &server{}
	h := s.handleMe()
	u := latchkey.User{ID: 7, Username: "a<b", PasswordHash: "secret", Active: true, DateJoined: time.Unix(1e9, 0)}
	p := latchkey.Principal{User: u, Digest: latchkey.Token("lk_test").Digest()}
	check := func(p latchkey.Principal) *userBody {
		t.Helper()
		rec := httptest.NewRecorder()
		h(rec, httptest.NewRequest("GET", "/v1/me", nil), p)
		want := httptest.NewRecorder()
		writeJSON(want, 200, newUserJSON(p.User))
		if rec.Code != 200 || rec.Body.String() != want.Body.String() {
			t.Fatalf("/v1/me of %+v: %d %q, want 200 %q", p.User, rec.Code, rec.Body, want.Body)
		}
		for _, h := range []string{"Content-Type", "X-Content-Type-Options"} {
			if g, w := rec.Header().Get(h), want.Header().Get(h); g != w || g == "" {
				t.Errorf("%s: %q, want %q", h, g, w)
			}
		}
		return s.users.of(p, newUserBody)
	}
	first := check(p)
	if again := check(p); again != first {
		t.Error("the same user was formatted again")
	}
	if first.user.PasswordHash != "" {
		t.Error("the table keeps the password hash")
	}
	if unsafe.StringData(first.user.Username) == unsafe.StringData(p.User.Username) {
		t.Error("the table keeps the cache's string, and the cache's buffer with it")
	}
	changes := []func(*latchkey.User){
		func(u *latchkey.User) { u.ID++ },
		func(u *latchkey.User) { u.Username = "a>b" },
		func(u *latchkey.User) { u.Email = "a@example.com" },
		func(u *latchkey.User) { u.FirstName = "A" },
		func(u *latchkey.User) { u.LastName = "B" },
		func(u *latchkey.User) { u.LastLogin = time.Unix(2e9, 0) },
		func(u *latchkey.User) { u.DateJoined = time.Unix(1e9, 1) },
	}
	prev := first
	for i, change := range changes {
		change(&p.User)
		if b := check(p); b == prev {
			t.Errorf("change %d: the old body was kept", i)
		} else {
			prev = b
		}
	}
	// Another token in the same slot.
	q := p
	q.Digest[2]++
	q.User.Username = "other"
	check(q)
	check(p)
}

func FuzzAppendUser(f *testing.F) {
	for _, s := range strangeStrings {
		f.Add(int64(1), s, s, s, s, int64(0), int64(1e18))
	}
	f.Fuzz(func(t *testing.T, id int64, username, email, first, last string, login, joined int64) {
		u := latchkey.User{ID: id, Username: username, Email: email, FirstName: first, LastName: last,
			DateJoined: time.Unix(0, joined)}
		if login != 0 {
			u.LastLogin = time.Unix(0, login)
		}
		checkAppendUser(t, u)
	})
}

// BenchmarkUserJSON is the user of /v1/me as JSON: the encoder the API
// uses, and encoding/json, which it must match.
func BenchmarkUserJSON(b *testing.B) {
	u := latchkey.User{ID: 42, Username: "alice", Email: "alice@example.com", FirstName: "Alice", LastName: "Liddell",
		Active: true, LastLogin: time.Now(), DateJoined: time.Now().Add(-time.Hour)}
	b.Run("appendUser", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf = appendUser(buf[:0], u)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(newUserJSON(u))
		}
	})
}
