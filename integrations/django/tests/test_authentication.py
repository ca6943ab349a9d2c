"""LatchkeyAuthentication against a real latchkey: the users and DRF tokens
of the Django fixture were imported into it, and loaded into the test
database with the same ids. The tests taking the mode fixture run in the
introspect and the forward-auth mode."""

import os
import signal
import socket
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured

from latchkey_django import client

from .helpers import assert_refused, assert_unavailable, get


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "bearer", "TOKEN"])
def test_imported_drf_token(api, latchkey, mode, scheme):
    # alice's Token key from Django's authtoken table, imported by latchkey.
    res = get(api, "/whoami", "%s %s" % (scheme, latchkey.drf_token("alice")))
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["id"] == latchkey.id("alice") == 1
    assert body["username"] == "alice"
    assert body["model"] == "auth.User"
    auth = body["auth"]
    assert auth["active"] is True
    assert auth["sub"] == "1"
    assert auth["username"] == "alice"
    assert auth["token_type"] == "Bearer"
    assert auth["jti"] and auth["exp"] > time.time()
    if mode == "introspect":
        assert auth["iat"] < auth["exp"]
    else:
        assert "iat" not in auth


def test_token_from_login(api, latchkey, mode):
    token = latchkey.login("gina")
    res = get(api, "/whoami", "Bearer " + token)
    assert res.status_code == 200, res.content
    assert res.json()["id"] == latchkey.id("gina")
    assert res.json()["username"] == "gina"


def test_no_header(api):
    res = get(api, "/public")
    assert res.status_code == 200
    assert res.json()["authenticated"] is False
    res = get(api, "/whoami")
    assert_refused(res, "Authentication credentials were not provided.")


def test_another_scheme_is_left_to_other_classes(api, settings, closed_port):
    # Not asked: latchkey is not even reachable.
    settings.LATCHKEY = dict(settings.LATCHKEY, URL="http://127.0.0.1:%d" % closed_port)
    res = get(api, "/public", "Basic YWxpY2U6cGFzc3dvcmQ=")
    assert res.status_code == 200
    assert res.json()["authenticated"] is False


@pytest.mark.parametrize(
    "header, detail",
    [
        ("Token", "Invalid token header. No credentials provided."),
        ("Bearer   ", "Invalid token header. No credentials provided."),
        ("Token a b", "Invalid token header. Token string should not contain spaces."),
        ("Bearer lk_\u00e9t\u00e9", "Invalid token header. Token string should not contain invalid characters."),
        ("Bearer lk_\x7f", "Invalid token header. Token string should not contain invalid characters."),
    ],
)
def test_malformed_header(api, settings, closed_port, header, detail):
    # Refused before latchkey is asked: it is not even reachable.
    settings.LATCHKEY = dict(settings.LATCHKEY, URL="http://127.0.0.1:%d" % closed_port)
    assert_refused(get(api, "/whoami", header), detail)
    assert_refused(get(api, "/public", header), detail)


@pytest.mark.parametrize("token", ["lk_" + "A" * 43, "0" * 40, "not-a-token"])
def test_unknown_token(api, latchkey, mode, token):
    assert_refused(get(api, "/whoami", "Bearer " + token), "Invalid token.")
    # A token that fails is refused even where anonymous users are welcome.
    assert_refused(get(api, "/public", "Bearer " + token), "Invalid token.")


def test_logged_out_token(api, latchkey, mode):
    token = latchkey.login("alice")
    assert get(api, "/whoami", "Bearer " + token).status_code == 200
    latchkey.logout(token)
    assert_refused(get(api, "/whoami", "Bearer " + token), "Invalid token.")


def test_inactive_in_django(api, latchkey, mode):
    User = get_user_model()
    User.objects.filter(pk=latchkey.id("alice")).update(is_active=False)
    assert_refused(get(api, "/whoami", "Token " + latchkey.drf_token("alice")), "User inactive or deleted.")


def test_missing_in_django(api, latchkey, mode, settings):
    User = get_user_model()
    bob = latchkey.id("bob")
    User.objects.filter(pk=bob).delete()
    header = "Token " + latchkey.drf_token("bob")
    assert_refused(get(api, "/whoami", header), "User inactive or deleted.")
    assert not User.objects.filter(pk=bob).exists()

    settings.LATCHKEY = dict(settings.LATCHKEY, CREATE_USERS=True)
    res = get(api, "/whoami", header)
    assert res.status_code == 200, res.content
    assert res.json()["id"] == bob
    user = User.objects.get(pk=bob)
    assert user.username == "bob"
    assert user.email == latchkey.call("GET", "/v1/me", token=latchkey.drf_token("bob"))[1]["email"]
    assert not user.has_usable_password()
    assert get(api, "/whoami", header).json()["id"] == bob


def test_created_from_latchkey(api, latchkey, mode, settings, new_user):
    # A user added to latchkey after the import, with a name and an email
    # that are not ASCII.
    username, password = new_user
    token = latchkey.login(username, password)
    me = latchkey.call("GET", "/v1/me", token=token)[1]
    header = "Bearer " + token
    assert_refused(get(api, "/whoami", header), "User inactive or deleted.")

    settings.LATCHKEY = dict(settings.LATCHKEY, CREATE_USERS=True)
    res = get(api, "/whoami", header)
    assert res.status_code == 200, res.content
    assert res.json()["id"] == me["id"]
    assert res.json()["auth"]["username"] == username
    user = get_user_model().objects.get(pk=me["id"])
    assert (user.username, user.email) == (username, me["email"])
    assert not username.isascii() and not user.email.isascii()


def test_connections_are_kept_alive(api, latchkey, mode):
    header = "Token " + latchkey.drf_token("alice")
    assert get(api, "/whoami", header).status_code == 200
    local = client.current_client()._local
    sock = local.conn.sock
    assert sock is not None
    assert get(api, "/whoami", header).status_code == 200
    assert local.conn.sock is sock

    # A kept-alive connection that broke meanwhile (latchkey restarted,
    # or closed it when idle) is replaced, and the request still answered.
    sock.shutdown(socket.SHUT_RDWR)
    assert get(api, "/whoami", header).status_code == 200
    assert local.conn.sock is not sock


def test_latchkey_not_listening(api, latchkey, mode, settings, closed_port, caplog):
    settings.LATCHKEY = dict(settings.LATCHKEY, URL="http://127.0.0.1:%d" % closed_port)
    header = "Token " + latchkey.drf_token("alice")
    assert_unavailable(get(api, "/whoami", header))
    # Fail closed: not served as anonymous where anonymous users are welcome.
    assert_unavailable(get(api, "/public", header))
    assert "ConnectionRefusedError" in caplog.text
    assert latchkey.drf_token("alice") not in caplog.text


def test_latchkey_too_slow(api, latchkey, mode, settings, silent_port):
    settings.LATCHKEY = dict(settings.LATCHKEY, URL="http://127.0.0.1:%d" % silent_port, TIMEOUT=0.2)
    assert_unavailable(get(api, "/whoami", "Token " + latchkey.drf_token("alice")))


def test_https(api, latchkey, mode, settings, https, caplog):
    url, ca_file = https
    assert url.startswith("https://")
    header = "Token " + latchkey.drf_token("alice")
    settings.LATCHKEY = dict(settings.LATCHKEY, URL=url, CA_FILE=ca_file)
    res = get(api, "/whoami", header)
    assert res.status_code == 200, res.content
    assert res.json()["id"] == latchkey.id("alice")

    # Verified with the system's CAs, which did not sign it: refused.
    settings.LATCHKEY = dict(settings.LATCHKEY, CA_FILE=None)
    assert_unavailable(get(api, "/whoami", header))
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_refused_then_stopped(api, latchkey, settings, spare, caplog):
    """The spare latchkey lets two failed client authentications through
    before it throttles the address; then it is stopped."""
    url, pid = spare
    settings.LATCHKEY = dict(settings.LATCHKEY, URL=url)
    header = "Token " + latchkey.drf_token("alice")
    assert get(api, "/whoami", header).status_code == 200

    # Wrong client credentials are this service's fault, not the user's: 503.
    settings.LATCHKEY = dict(settings.LATCHKEY, CLIENT_SECRET="lkc_" + "W" * 43)
    for _ in range(2):
        assert_unavailable(get(api, "/whoami", header))
    assert "refused the client credentials" in caplog.text
    assert "W" * 43 not in caplog.text

    # Throttled: latchkey's 429 and its Retry-After become DRF's 503.
    settings.LATCHKEY = dict(settings.LATCHKEY, CLIENT_SECRET=os.environ["LATCHKEY_TEST_CLIENT_SECRET"])
    res = get(api, "/whoami", header)
    assert_unavailable(res)
    assert 1 <= int(res["Retry-After"]) <= 3600

    # Stopped: its kept-alive connection and new ones are refused.
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    host, port = url.rsplit("/", 1)[1].split(":")
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except ConnectionRefusedError:
            break
        except ConnectionResetError:
            pass  # accepted, then reset: still shutting down
        assert time.monotonic() < deadline, "latchkey did not stop"
        time.sleep(0.05)
    assert_unavailable(get(api, "/whoami", header))
    assert_unavailable(get(api, "/public", header))


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"CLIENT_SECERT": "x"}, "unknown keys CLIENT_SECERT"),
        ({"MODE": "jwt"}, "MODE"),
        ({"MODE": "introspect", "CLIENT_ID": None}, "CLIENT_ID"),
        ({"URL": "ftp://x"}, "http:// or https://"),
        ({"URL": None}, "URL'] is required"),
        ({"CLIENT_SECRET": ""}, "CLIENT_SECRET"),
        ({"TIMEOUT": 0}, "TIMEOUT"),
        ({"TIMEOUT": "soon"}, "TIMEOUT"),
        ({"REALM": 'a"b'}, "REALM"),
        ({"KEYWORDS": "Bearer"}, "KEYWORDS"),
    ],
)
def test_settings_checked(api, settings, setting, message):
    settings.LATCHKEY = dict(settings.LATCHKEY, **setting)
    match = message.replace("[", r"\[")
    with pytest.raises(ImproperlyConfigured, match=match):
        get(api, "/whoami", "Bearer lk_x")
    # Checked on every request the class sees, with a token or without.
    with pytest.raises(ImproperlyConfigured, match=match):
        get(api, "/public")


def test_keywords(api, latchkey, settings):
    settings.LATCHKEY = dict(settings.LATCHKEY, KEYWORDS=["Bearer"])
    token = latchkey.drf_token("alice")
    assert get(api, "/whoami", "Bearer " + token).status_code == 200
    # Token is another class's now: not ours, so anonymous.
    assert get(api, "/public", "Token " + token).json()["authenticated"] is False
