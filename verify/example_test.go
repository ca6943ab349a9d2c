package verify_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/cache/memory"
	"github.com/latchkeyhq/latchkey/password"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/verify"
)

// A service checks its requests' tokens in its own process, from the
// database of the latchkey servers beside it.
func Example() {
	dir, err := os.MkdirTemp("", "verify-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db := "sqlite:" + filepath.Join(dir, "latchkey.db")
	token := logIn(filepath.Join(dir, "latchkey.db"), "alice") // latchkey serve's POST /v1/login

	// The servers' environment; in a service, pass os.Getenv.
	env := map[string]string{"LATCHKEY_DATABASE_URL": db}
	cfg, err := verify.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		log.Fatal(err)
	}
	v, err := verify.Open(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /hello", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := verify.FromContext(r.Context())
		fmt.Fprintf(w, "hello, %s (user %d)\n", id.Username, id.UserID)
	})))

	for _, auth := range []string{"Bearer " + token, "Token " + token, "Bearer lk_not-a-token", ""} {
		req := httptest.NewRequest("GET", "/hello", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 hello, alice (user 1)
	// 200 hello, alice (user 1)
	// 401 {"code":"invalid_token","detail":"Invalid token."}
	// 401 {"code":"not_authenticated","detail":"Authentication credentials were not provided."}
}

// logIn does what latchkey serve does for a new user's first POST
// /v1/login, on the SQLite file at path: it returns the token.
func logIn(path, username string) string {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	hasher := password.New(password.Options{Params: password.Argon2id{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	auth := latchkey.NewAuthenticator(st, memory.New(memory.Options{MaxEntries: 10}), hasher, latchkey.Options{})
	const pw = latchkey.Password("correct horse battery staple")
	if _, err := auth.AddUser(ctx, latchkey.NewUser{Username: username}, pw); err != nil {
		log.Fatal(err)
	}
	is, err := auth.Login(ctx, latchkey.LoginRequest{Username: username, Password: pw})
	if err != nil {
		log.Fatal(err)
	}
	return is.Token.Reveal()
}

// A service that cannot reach latchkey's database asks a latchkey server
// about each request's token, as a registered service client.
func ExampleNewRemote() {
	r, err := verify.NewRemote(verify.RemoteConfig{
		URL:          "https://auth.internal",
		Mode:         verify.Introspect,
		ClientID:     "billing",
		ClientSecret: os.Getenv("BILLING_LATCHKEY_SECRET"), // from latchkey client add billing
		Timeout:      time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	http.Handle("GET /invoices", r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id, _ := verify.FromContext(req.Context())
		fmt.Fprintf(w, "the invoices of user %d\n", id.UserID)
	})))
	log.Fatal(http.ListenAndServe(":8081", nil))
}
