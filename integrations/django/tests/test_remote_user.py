"""LatchkeyRemoteUserAuthentication, given the identity headers of a real
/v1/forward-auth answer, as a forward-auth proxy passes them on."""

import http.client
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model

from .helpers import assert_refused, get


def forward_auth(url, token):
    """latchkey's identity headers for token, as request.META keys: what
    a proxy copies onto the request, and a WSGI server makes of it
    (ISO-8859-1 strings of the header's bytes)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", "/v1/forward-auth", headers={"Authorization": "Bearer " + token})
        res = conn.getresponse()
        res.read()
        assert res.status == 200
        return {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in res.getheaders()
            if name.lower().startswith("x-latchkey-") or name.lower().startswith("remote-")
        }
    finally:
        conn.close()


def test_identity_headers(api, latchkey):
    meta = forward_auth(latchkey.url, latchkey.drf_token("alice"))
    res = api.get("/behind-proxy", **meta)
    assert res.status_code == 200, res.content
    body = res.json()
    assert (body["id"], body["username"]) == (latchkey.id("alice"), "alice")
    assert body["auth"]["sub"] == "1"
    assert body["auth"]["username"] == "alice"
    assert body["auth"]["jti"] and body["auth"]["exp"]


def test_no_latchkey_settings(api, latchkey, settings):
    # latchkey is not asked: the class needs no LATCHKEY setting.
    del settings.LATCHKEY
    meta = forward_auth(latchkey.url, latchkey.drf_token("alice"))
    assert api.get("/behind-proxy", **meta).json()["id"] == latchkey.id("alice")


def test_authorization_is_not_read(api, latchkey):
    # The proxy checked the token; a request without the identity headers
    # is anonymous here, whatever Authorization it carries.
    res = get(api, "/behind-proxy", "Token " + latchkey.drf_token("alice"))
    assert_refused(res, "Authentication credentials were not provided.")


@pytest.mark.parametrize("meta", [{}, {"HTTP_X_LATCHKEY_USER_ID": ""}])
def test_no_header(api, meta):
    res = api.get("/behind-proxy", **meta)
    assert_refused(res, "Authentication credentials were not provided.")


@pytest.mark.parametrize("value", ["alice", "1,1", "1, 2", " 1", "-1", "\u0661", "1" * 20])
def test_bad_header(api, value):
    assert_refused(api.get("/behind-proxy", HTTP_X_LATCHKEY_USER_ID=value), "Invalid user id header.")


def test_user_in_django(api, latchkey, settings):
    User = get_user_model()
    User.objects.filter(pk=1).update(is_active=False)
    assert_refused(api.get("/behind-proxy", HTTP_X_LATCHKEY_USER_ID="1"), "User inactive or deleted.")

    # Created, when allowed, from the headers: WSGI gives header bytes as
    # ISO-8859-1, read back as latchkey's UTF-8.
    missing = 1 + max(User.objects.values_list("pk", flat=True))
    meta = {
        "HTTP_X_LATCHKEY_USER_ID": str(missing),
        "HTTP_X_LATCHKEY_USERNAME": "zoë".encode().decode("latin-1"),
        "HTTP_X_LATCHKEY_EMAIL": "zoë@exämple.com".encode().decode("latin-1"),
    }
    assert_refused(api.get("/behind-proxy", **meta), "User inactive or deleted.")
    settings.LATCHKEY = dict(settings.LATCHKEY, CREATE_USERS=True)
    res = api.get("/behind-proxy", **meta)
    assert res.status_code == 200, res.content
    user = User.objects.get(pk=missing)
    assert (user.username, user.email) == ("zoë", "zoë@exämple.com")
