package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/django/djangotest"
	"github.com/latchkeyhq/latchkey/tlstest"
)

// debianPython is the interpreter Debian's python3-django,
// python3-djangorestframework and python3-pytest-django install into;
// the python3 first on PATH may be another one without them.
const debianPython = "/usr/bin/python3"

// djangoPython returns debianPython when it can import Django, DRF and
// pytest-django, and otherwise skips t (fails it under CI=true, where
// .ci/run installs them).
func djangoPython(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		want := "the Django integration test needs " + debianPython + " with Django, Django REST Framework and pytest-django " +
			"(apt-get install -y python3-django python3-djangorestframework python3-pytest-django): " + why
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s, which CI=true requires", want)
		}
		t.Skipf("skipped: %s", want)
	}
	if _, err := os.Stat(debianPython); err != nil {
		missing(err.Error())
	}
	out, err := exec.Command(debianPython, "-c", "import django, rest_framework, pytest_django").CombinedOutput()
	if err != nil {
		missing(strings.TrimSpace(string(out)))
	}
	return debianPython
}

// TestDjangoIntegration runs the tests of integrations/django (pytest and
// pytest-django, with Debian's Django and DRF) against the binary: the
// Django fixture's users and DRF tokens are imported into latchkey, and
// loaded with the same ids into the Django test database; a user whose
// name and email are not ASCII is added, in latchkey only; a service
// client is registered; a server answers, a spare one on the same
// database is there for the tests that get it to throttle and stop it,
// and a third serves HTTPS with a certificate of the test's own CA.
func TestDjangoIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	python := djangoPython(t)
	fixtures := djangotest.Dir(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}

	env := dbEnv(t)
	if out, err := cli(t, env, "", "import", "django", "--dumpdata", filepath.Join(fixtures, "dumpdata.json"), "--token-expiry", "720h"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	const newUser = "zoë"
	if out, err := cli(t, env, e2ePassword+"\n", "user", "add", newUser, "--email", "zoë@exämple.com", "--password-stdin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	secret := clientAdd(t, env, "django-tests")
	p := serve(t, env)
	spare := serve(t, append(env, "LATCHKEY_THROTTLE_CLIENT_BURST=2", "LATCHKEY_THROTTLE_CLIENT_RATE=1/1h"))
	ca := tlstest.NewCA(t)
	cert := ca.Issue(t, "127.0.0.1")
	secure := serve(t, append(env, "LATCHKEY_TLS_CERT_FILE="+cert.CertFile, "LATCHKEY_TLS_KEY_FILE="+cert.KeyFile))

	cmd := exec.Command(python, "-m", "pytest", "integrations/django/tests", "-q", "-rs")
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"PYTHONDONTWRITEBYTECODE=1",
		"LATCHKEY_TEST_URL="+p.url,
		"LATCHKEY_TEST_CLIENT_ID=django-tests",
		"LATCHKEY_TEST_CLIENT_SECRET="+secret,
		"LATCHKEY_TEST_SPARE_URL="+spare.url,
		"LATCHKEY_TEST_SPARE_PID="+strconv.Itoa(spare.cmd.Process.Pid),
		"LATCHKEY_TEST_HTTPS_URL="+secure.url,
		"LATCHKEY_TEST_CA_FILE="+ca.File,
		"LATCHKEY_TEST_DJANGO_FIXTURES="+fixtures,
		"LATCHKEY_TEST_NEW_USER="+newUser,
		"LATCHKEY_TEST_NEW_PASSWORD="+e2ePassword,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pytest: %v\n%s\nlatchkey's log:\n%s", err, out, p.output())
	}
	// Every test ran: a skip here means the environment above is wrong.
	summary := regexp.MustCompile(`(?m)^\d+ passed.*$`).Find(out)
	if summary == nil || strings.Contains(string(summary), "skipped") {
		t.Fatalf("pytest did not run every test:\n%s", out)
	}
	t.Logf("pytest: %s", summary)
}
