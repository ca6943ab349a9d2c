package captcha

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// mapGuard is a minimal replay guard for the fuzz target, which must not
// depend on another package's state between runs.
type mapGuard struct {
	mu sync.Mutex
	m  map[string]bool
}

func (g *mapGuard) Claim(_ context.Context, key string, _ time.Time) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m[key] {
		return false, nil
	}
	g.m[key] = true
	return true, nil
}

// seqRand is a deterministic random source.
type seqRand struct{ n uint64 }

func (r *seqRand) Read(p []byte) (int, error) {
	for i := range p {
		if i%8 == 0 {
			r.n = r.n*6364136223846793005 + 1442695040888963407
		}
		p[i] = byte(r.n >> (8 * (i % 8)))
	}
	return len(p), nil
}

// FuzzPoWPayload feeds arbitrary responses to the proof-of-work decoder
// and verifier. Neither may panic; every refusal is one of the captcha
// errors; and whatever passes is a real solution: signed by the key,
// unexpired, issued after NotBefore, with the work done.
func FuzzPoWPayload(f *testing.F) {
	const key = "fuzz-key-0123456789"
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	notBefore := now.Add(-time.Hour)
	newPoW := func(notBefore time.Time) *PoW {
		p, err := NewPoW(PoWConfig{
			Secret: key, Guard: &mapGuard{m: map[string]bool{}}, MaxNumber: 50,
			NotBefore: notBefore, Now: func() time.Time { return now }, Rand: &seqRand{},
		})
		if err != nil {
			f.Fatal(err)
		}
		return p
	}
	seed := func(m map[string]any) string {
		b, _ := json.Marshal(m)
		return base64.StdEncoding.EncodeToString(b)
	}
	// Seeds from the table cases: a real solution of each salt shape
	// (without and with the issue time) and their corruptions.
	for _, issuer := range []*PoW{newPoW(time.Time{}), newPoW(notBefore)} {
		ch, err := issuer.NewChallenge(context.Background(), netip.Addr{})
		if err != nil {
			f.Fatal(err)
		}
		var n int64
		for ; n <= ch.MaxNumber; n++ {
			if sum := work(ch.Salt, n); hex.EncodeToString(sum[:]) == ch.Challenge {
				break
			}
		}
		good := map[string]any{"algorithm": ch.Algorithm, "challenge": ch.Challenge, "number": n, "salt": ch.Salt, "signature": ch.Signature, "took": 12}
		if err := newPoW(notBefore).Verify(context.Background(), seed(good), ""); err != nil {
			f.Fatalf("the solved seed does not pass: %v", err)
		}
		f.Add(seed(good))
		for k, v := range map[string]any{
			"number": n + 1, "algorithm": "SHA-1", "signature": strings.ToUpper(ch.Signature),
			"salt": ch.Salt + "1", "challenge": strings.Repeat("0", 64),
		} {
			m := map[string]any{}
			for k2, v2 := range good {
				m[k2] = v2
			}
			m[k] = v
			f.Add(seed(m))
		}
	}
	f.Add("")
	f.Add("e30=") // {}
	f.Add("bnVsbA==")
	f.Add("not base64")
	f.Add(strings.Repeat("A", MaxResponseLength+4))

	f.Fuzz(func(t *testing.T, response string) {
		pl, derr := decodePayload(response)
		if derr == nil {
			if pl.Number == nil || *pl.Number < 0 || pl.Algorithm != AlgorithmSHA256 ||
				len(pl.Challenge) != 64 || len(pl.Signature) != 64 {
				t.Fatalf("decodePayload accepted %+v", pl)
			}
		}
		p := newPoW(notBefore)
		err := p.Verify(context.Background(), response, "")
		if err == nil {
			if derr != nil {
				t.Fatalf("Verify passed a payload decodePayload refused: %v", derr)
			}
			m := hmac.New(sha256.New, []byte(key))
			m.Write([]byte(pl.Challenge))
			sig, _ := hex.DecodeString(pl.Signature)
			sum := work(pl.Salt, *pl.Number)
			exp, issued, ok := parseSalt(pl.Salt)
			if issued == noIssueTime {
				issued = (exp - int64(DefaultChallengeTTL/time.Second)) * 1000
			}
			if !hmac.Equal(m.Sum(nil), sig) || hex.EncodeToString(sum[:]) != pl.Challenge || !ok || exp <= now.Unix() || issued <= notBefore.UnixMilli() {
				t.Fatalf("Verify passed a false solution: %+v", pl)
			}
			if p.Verify(context.Background(), response, "") == nil {
				t.Fatal("Verify passed a solution twice")
			}
			return
		}
		var e *latchkey.Error
		if !errors.As(err, &e) {
			t.Fatalf("Verify: %T %v, want a *latchkey.Error", err, err)
		}
		switch e.Code {
		case latchkey.CodeCaptchaInvalid, latchkey.CodeCaptchaRequired:
		default:
			t.Fatalf("Verify: code %q", e.Code)
		}
		if strings.Contains(err.Error(), key) {
			t.Fatalf("error shows the key: %v", err)
		}
	})
}
