package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/api"
	"github.com/latchkeyhq/latchkey/internal/deadline"
	"github.com/latchkeyhq/latchkey/internal/dial"
	"github.com/latchkeyhq/latchkey/password"
	"github.com/latchkeyhq/latchkey/prom"
	"github.com/latchkeyhq/latchkey/ui"
	"github.com/latchkeyhq/latchkey/webauthn"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, _, err := command{
		name:   "latchkey serve",
		groups: [][]setting{serveSettings(), settings(), throttleSettings(), captchaSettings()},
		args: func(pos []string) error {
			if len(pos) > 0 {
				return fmt.Errorf("serve takes no arguments, got %q", pos)
			}
			return nil
		},
		validate: (*Config).validateServe,
	}.setup(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := cfg.logger(stderr)
	applyMemoryLimit(cfg, getenv, log)
	hup, stopHup := hangups()
	defer stopHup()
	var pair *keyPair // nil: plain HTTP
	if cfg.TLSCertFile != "" {
		if pair, err = loadKeyPair(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return err
		}
	}

	store, err := dial.OpenStore(ctx, cfg.Database, true)
	if err != nil {
		return err
	}
	defer store.Close()
	warnFileModes(log, cfg.Database)
	started := time.Now()
	b, err := openBackends(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.close()
	limiter, err := newLimiter(cfg, b, log)
	if err != nil {
		return err
	}
	verifier, challenges, err := newCaptcha(cfg, b, limiter, started, log)
	if err != nil {
		return err
	}
	proxies, err := api.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return usageError{fmt.Sprintf("trusted-proxies: %v", err)}
	}
	var metrics *prom.Metrics // nil: no metrics
	if cfg.MetricsAddr != "" {
		metrics = prom.New(prom.Options{Version: version(), CaptchaProvider: cfg.CaptchaProvider})
	}
	hasher := newHasher(cfg, metrics)
	if err := calibrate(ctx, hasher, store, log); err != nil {
		return err
	}
	mfaKey, err := checkMFAKey(ctx, cfg, store)
	if err != nil {
		return err
	}
	rp, err := newRelyingParty(cfg)
	if err != nil {
		return err
	}
	gate := latchkey.Options{
		MFAKey:                mfaKey,
		RelyingParty:          rp,
		Challenges:            b.challenges,
		CeremonyLimiter:       limiter,
		Throttle:              limiter,
		Captcha:               verifier,
		CaptchaAfterFailures:  cfg.CaptchaAfter,
		ServiceClientThrottle: limiter,
	}
	apiOpt := api.Options{
		Logger:     log,
		ClientIP:   api.ClientIP{Trusted: proxies},
		Challenges: challenges,

		ForwardAuthCookie: cfg.ForwardAuthCookie,
	}
	if metrics != nil {
		gate.Metrics, apiOpt.Metrics = metrics, metrics
	}
	if cfg.UI == "on" {
		pages, err := ui.New(ui.Options{
			Captcha:  ui.Captcha{Provider: cfg.CaptchaProvider, SiteKey: cfg.CaptchaSiteKey, Always: cfg.CaptchaAfter == 0},
			Passkeys: cfg.WebAuthnRPID != "",
		})
		if err != nil {
			return err
		}
		apiOpt.UI = pages
	}
	auth := newAuthenticator(cfg, store, b.cache, hasher, log, gate)
	if err := auth.Start(ctx); err != nil {
		return err
	}
	handler := api.NewServer(auth, apiOpt)
	var metricsSrv *metricsServer
	if metrics != nil {
		st := prom.State{CacheTrusted: auth.CacheTrusted, ChangeFeedLag: auth.FeedLag, HashSlotsInUse: hasher.InUse}
		if c, ok := b.cache.(interface{ Len() (int, int) }); ok {
			st.CacheEntries = c.Len
		}
		metrics.Watch(st)
		if metricsSrv, err = listenMetrics(cfg.MetricsAddr, metrics.Handler(), log); err != nil {
			return err
		}
		defer metricsSrv.close()
	}

	tcp, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The server's timeouts are kept by a sweeper rather than a runtime
	// timer per request.
	ln := deadline.NewListener(tcp, 0)
	srv := api.HTTPServer(handler)
	srv.ErrorLog = serverLog(log)
	scheme := "http"
	if pair != nil {
		srv.TLSConfig, scheme = pair.config(), "https"
	}

	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan error, 1)
	go func() { bgDone <- auth.Run(bgCtx) }()

	go onHangup(bgCtx, hup, pair, log)

	serveErr := make(chan error, 1)
	go func() {
		if pair != nil {
			// The certificate comes from srv.TLSConfig, not from files.
			serveErr <- srv.ServeTLS(ln, "", "")
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "database", cfg.Database, "cache", dial.RedactURL(cfg.CacheURL))
	if metricsSrv != nil {
		metricsSrv.serve()
	}

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		if metricsSrv != nil {
			// Scraped until the API is done: the last scrape sees the
			// drained requests.
			metricsSrv.shutdown(sctx)
		}
		cancel()
	}
	stopBg()
	if bgErr := <-bgDone; bgErr != nil {
		log.Warn("background work ended with an error", "err", bgErr)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// newHasher returns the password hasher of the settings, which times its
// queue into metrics when they are on.
func newHasher(cfg *Config, metrics *prom.Metrics) *password.Hasher {
	var onWait func(time.Duration)
	if metrics != nil {
		onWait = metrics.HashWait
	}
	return password.New(password.Options{
		OnWait: onWait,
		// Hashes imported from Django verify until the next login
		// replaces them with argon2id.
		Schemes:       password.DjangoSchemes(),
		MaxConcurrent: cfg.HashConcurrency,
		QueueTimeout:  cfg.HashQueueTimeout,
	})
}

// calibrate has the hasher time one check of each kind of hash stored
// before the server listens, so that the first failed logins already wait
// for the slowest: a failed login costs the same time whoever it names
// (password.Hasher.Verify). A kind that an import brings later is learnt
// at its first check.
func calibrate(ctx context.Context, h *password.Hasher, st latchkey.Store, log *slog.Logger) error {
	start := time.Now()
	n, err := h.Calibrate(ctx, st.PasswordHashes)
	if err != nil {
		return err
	}
	log.Info("failed logins padded", "floor", h.Floor().Round(time.Millisecond).String(),
		"kinds_of_hash", n, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// newAuthenticator builds the Authenticator of the settings; gate holds
// the login gate's parts (throttle and captcha), which only serve has.
// newRelyingParty returns the passkeys' relying party the settings name;
// nil (no passkeys) without webauthn-rp-id.
func newRelyingParty(cfg *Config) (latchkey.RelyingParty, error) {
	if cfg.WebAuthnRPID == "" {
		return nil, nil
	}
	rp, err := webauthn.New(webauthn.Config{RPID: cfg.WebAuthnRPID, Origins: cfg.WebAuthnOrigins, DisplayName: cfg.WebAuthnName})
	if err != nil {
		return nil, usageError{fmt.Sprintf("webauthn-rp-id (LATCHKEY_WEBAUTHN_RP_ID): %v", err)}
	}
	return rp, nil
}

// checkMFAKey returns the key of LATCHKEY_MFA_KEY (nil when unset),
// once the database agrees it is the key its TOTP secrets are sealed
// with: the first server started with a key stores its check value, and
// a server started with another key refuses to start, rather than
// failing every TOTP code or sealing new secrets under a second key.
func checkMFAKey(ctx context.Context, cfg *Config, store latchkey.Store) (*latchkey.MFAKey, error) {
	if len(cfg.MFAKey) == 0 {
		return nil, nil
	}
	key, err := latchkey.NewMFAKey(cfg.MFAKey)
	if err != nil {
		return nil, fmt.Errorf("mfa-key (LATCHKEY_MFA_KEY): %w", err)
	}
	ok, err := store.MFAKeyCheck(ctx, key.Check())
	if err != nil {
		return nil, fmt.Errorf("mfa-key (LATCHKEY_MFA_KEY): check against the database: %w", err)
	}
	if !ok {
		return nil, errors.New("mfa-key (LATCHKEY_MFA_KEY) is not the key this database's TOTP secrets are sealed with: start with the key the first server used")
	}
	return key, nil
}

func newAuthenticator(cfg *Config, store latchkey.Store, cache latchkey.Cache, hasher latchkey.PasswordHasher, log *slog.Logger, gate latchkey.Options) *latchkey.Authenticator {
	policy := password.Policy{MinLength: cfg.PasswordMinLength}
	opt := gate
	opt.TokenTTL = cfg.TokenTTL
	opt.IdleTimeout = cfg.IdleTimeout
	opt.SyncInterval = cfg.SyncInterval
	opt.MaxStaleness = cfg.CacheMaxStaleness
	opt.EventRetention = cfg.EventsRetention
	opt.CheckPassword = policy.Check
	opt.Logger = log
	return latchkey.NewAuthenticator(store, cache, hasher, opt)
}
