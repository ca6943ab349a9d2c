"""Fixtures: the latchkey server the Go test (cmd/latchkey's
TestDjangoIntegration) started, and the Django database holding the same
users, loaded from the same dump that latchkey imported.

The Go test sets:
  LATCHKEY_TEST_URL             a running latchkey
  LATCHKEY_TEST_CLIENT_ID       a service client of it (latchkey client add)
  LATCHKEY_TEST_CLIENT_SECRET   its secret
  LATCHKEY_TEST_SPARE_URL       a second latchkey on the same database, for
  LATCHKEY_TEST_SPARE_PID       the tests that refuse its client and stop it
  LATCHKEY_TEST_HTTPS_URL       a third latchkey on the same database, over
  LATCHKEY_TEST_CA_FILE         HTTPS, and the CA that signed its certificate
  LATCHKEY_TEST_DJANGO_FIXTURES shared/fixtures/django: dumpdata.json was
                                imported into latchkey, users.json holds
                                the passwords and DRF tokens
  LATCHKEY_TEST_NEW_USER        a user added to latchkey after the import,
  LATCHKEY_TEST_NEW_PASSWORD    whom Django does not have, and its password
Without them, the tests that need latchkey skip.
"""

import json
import os
import socket
import urllib.error
import urllib.request

import pytest
from django.core.management import call_command


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.skip("needs a latchkey server: run by `go test ./cmd/latchkey -run TestDjangoIntegration` (%s unset)" % name)
    return value


class Latchkey:
    """A running latchkey, spoken to as a user's client would."""

    def __init__(self, url, fixtures):
        self.url = url
        with open(os.path.join(fixtures, "users.json")) as f:
            self.users = json.load(f)

    def call(self, method, path, token=None, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                raw = res.read()
                return res.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def login(self, username, password=None):
        if password is None:
            password = self.users[username]["password"]
        status, body = self.call("POST", "/v1/login", body={"username": username, "password": password})
        assert status == 200, body
        return body["token"]

    def logout(self, token):
        status, body = self.call("POST", "/v1/logout", token=token)
        assert status == 204, body

    def drf_token(self, username):
        """The user's Django REST Framework token, imported into latchkey."""
        return self.users[username]["token"]

    def id(self, username):
        return self.users[username]["id"]


@pytest.fixture(scope="session")
def latchkey():
    return Latchkey(env("LATCHKEY_TEST_URL"), env("LATCHKEY_TEST_DJANGO_FIXTURES"))


@pytest.fixture
def new_user():
    """A user latchkey has and Django lacks: (username, password)."""
    return env("LATCHKEY_TEST_NEW_USER"), env("LATCHKEY_TEST_NEW_PASSWORD")


@pytest.fixture(params=["introspect", "forward-auth"])
def mode(request, settings):
    """Each way of asking latchkey; the forward-auth mode without client
    credentials, which it does not need."""
    conf = dict(settings.LATCHKEY, MODE=request.param)
    if request.param == "forward-auth":
        del conf["CLIENT_ID"], conf["CLIENT_SECRET"]
    settings.LATCHKEY = conf
    return request.param


@pytest.fixture
def spare():
    """A second latchkey, which the test may refuse and stop."""
    return env("LATCHKEY_TEST_SPARE_URL"), int(env("LATCHKEY_TEST_SPARE_PID"))


@pytest.fixture
def https():
    """latchkey over HTTPS: its URL, and the CA file to verify it with."""
    return env("LATCHKEY_TEST_HTTPS_URL"), env("LATCHKEY_TEST_CA_FILE")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database with the Django project's users and tokens, from
    the dump latchkey imported: the same ids on both sides."""
    fixtures = os.environ.get("LATCHKEY_TEST_DJANGO_FIXTURES")
    if fixtures:
        with django_db_blocker.unblock():
            call_command("loaddata", os.path.join(fixtures, "dumpdata.json"), verbosity=0)


@pytest.fixture
def api(db):
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield s.getsockname()[1]
    s.close()
