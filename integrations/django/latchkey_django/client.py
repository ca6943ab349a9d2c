"""The latchkey server that settings.LATCHKEY names, and how to ask it about a token:
POST /v1/introspect with client credentials, or GET /v1/forward-auth.

Standard library only: http.client, with one kept-alive connection per
thread, so that a worker asks latchkey over the connection it opened for
its previous request.
"""

import base64
import calendar
import http.client
import json
import os
import re
import ssl
import threading
import time
from urllib.parse import quote_plus, urlencode, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

MODE_INTROSPECT = "introspect"
MODE_FORWARD_AUTH = "forward-auth"
MODES = (MODE_INTROSPECT, MODE_FORWARD_AUTH)

DEFAULTS = {
    "URL": None,
    "MODE": MODE_INTROSPECT,
    "CLIENT_ID": None,
    "CLIENT_SECRET": None,
    "TIMEOUT": 2.0,
    "CA_FILE": None,
    "CREATE_USERS": False,
    "REALM": "api",
    "KEYWORDS": ("Bearer", "Token"),
}

# A user id as latchkey writes it: decimal ASCII digits, an int64.
USER_ID = re.compile(r"\A[0-9]{1,19}\Z")

# latchkey's answers are a few hundred bytes; a longer one is not latchkey's.
MAX_ANSWER = 64 << 10


class Unavailable(Exception):
    """The check could not run: latchkey unreachable, slow, refusing our
    client credentials, or answering 503. The request it was checking must
    be refused, never let through as anonymous."""

    def __init__(self, reason, retry_after=None):
        super().__init__(reason)
        self.retry_after = retry_after


class Settings:
    """settings.LATCHKEY, checked once: unknown keys and missing values are
    ImproperlyConfigured, so that a typo fails loudly instead of falling
    back to a default."""

    def __init__(self, user_settings):
        if not isinstance(user_settings, dict):
            raise ImproperlyConfigured("LATCHKEY must be a dict")
        unknown = sorted(set(user_settings) - set(DEFAULTS))
        if unknown:
            raise ImproperlyConfigured("LATCHKEY: unknown keys %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(DEFAULTS))))
        s = dict(DEFAULTS, **user_settings)
        if s["MODE"] not in MODES:
            raise ImproperlyConfigured("LATCHKEY['MODE'] must be %r or %r, not %r" % (MODES + (s["MODE"],)))
        self.mode = s["MODE"]
        self.url = s["URL"]
        self.client_id = s["CLIENT_ID"]
        self.client_secret = s["CLIENT_SECRET"]
        try:
            self.timeout = float(s["TIMEOUT"])
        except (TypeError, ValueError):
            self.timeout = 0
        if not self.timeout > 0:
            raise ImproperlyConfigured("LATCHKEY['TIMEOUT'] must be a number of seconds above 0")
        self.ca_file = s["CA_FILE"]
        self.create_users = bool(s["CREATE_USERS"])
        self.realm = str(s["REALM"])
        if '"' in self.realm or "\\" in self.realm or not self.realm.isprintable():
            raise ImproperlyConfigured("LATCHKEY['REALM'] must be printable, without quotes or backslashes")
        keywords = s["KEYWORDS"]
        if isinstance(keywords, str) or not keywords:
            raise ImproperlyConfigured("LATCHKEY['KEYWORDS'] must be a list of schemes, e.g. ['Bearer', 'Token']")
        self.keywords = frozenset(k.lower().encode("ascii") for k in keywords)

    def client(self):
        """The latchkey server to ask, for LatchkeyAuthentication."""
        if not self.url:
            raise ImproperlyConfigured("LATCHKEY['URL'] is required, e.g. 'http://127.0.0.1:8080'")
        if self.mode == MODE_INTROSPECT and (not self.client_id or not self.client_secret):
            raise ImproperlyConfigured(
                "LATCHKEY['CLIENT_ID'] and ['CLIENT_SECRET'] are required in the introspect mode: "
                "the name given to `latchkey client add NAME` and the secret it printed"
            )
        return Client(self.url, self.mode, self.client_id, self.client_secret, self.timeout, self.ca_file)


_lock = threading.Lock()
_settings = None
_client = None


def current():
    """The Settings of settings.LATCHKEY, made once, and again after a test
    changes the setting."""
    global _settings
    with _lock:
        if _settings is None:
            from django.conf import settings

            _settings = Settings(getattr(settings, "LATCHKEY", {}))
        return _settings


def current_client():
    """The Client of settings.LATCHKEY, shared by every request so that
    its connections are reused."""
    global _client
    s = current()
    with _lock:
        if _client is None or _client[0] is not s:
            _client = (s, s.client())
        return _client[1]


def _reset(*, setting, **kwargs):
    global _settings, _client
    if setting == "LATCHKEY":
        with _lock:
            _settings, _client = None, None


setting_changed.connect(_reset)


class Client:
    """One latchkey server. Safe to share between threads: each thread has
    a connection of its own, kept alive between requests."""

    def __init__(self, url, mode, client_id, client_secret, timeout, ca_file=None):
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname or u.query or u.fragment or u.username:
            raise ImproperlyConfigured("LATCHKEY['URL'] must be http:// or https:// with a host and nothing after its path, not %r" % url)
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port
        self.base = u.path.rstrip("/")
        self.mode = mode
        self.timeout = timeout
        self.context = None
        if u.scheme == "https":
            self.context = ssl.create_default_context(cafile=ca_file)
        self._basic = None
        if client_id and client_secret:
            creds = "%s:%s" % (quote_plus(str(client_id), safe=""), quote_plus(str(client_secret), safe=""))
            self._basic = "Basic " + base64.b64encode(creds.encode("utf-8")).decode("ascii")
        self._local = threading.local()

    def __repr__(self):
        # Never the secret.
        return "<latchkey %s://%s%s%s>" % (self.scheme, self.host, "" if self.port is None else ":%d" % self.port, self.base)

    def check(self, token):
        """Ask latchkey about token, as the mode says. Returns a dict of
        claims ("sub" the user id, "username", "email", "exp", "jti"…) when
        latchkey accepts the token; None when it does not. Raises
        Unavailable when the check could not run."""
        if self.mode == MODE_FORWARD_AUTH:
            return self.forward_auth(token)
        return self.introspect(token)

    def introspect(self, token):
        """Ask POST /v1/introspect about token. Returns latchkey's answer, a
        dict with "sub", "username", "email", "exp", "iat", "jti", when the
        token is active; None when it is not. Raises Unavailable when the
        check could not run."""
        status, headers, body = self._request(
            "POST",
            "/v1/introspect",
            urlencode({"token": token}).encode("ascii"),
            {
                "Authorization": self._basic,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        if status == 200:
            try:
                answer = json.loads(body.decode("utf-8"))
            except ValueError:
                answer = None
            if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
                raise Unavailable("latchkey's introspection answer is not RFC 7662 JSON")
            if not answer["active"]:
                return None
            if not isinstance(answer.get("sub"), str) or not USER_ID.match(answer["sub"]):
                raise Unavailable("latchkey's introspection answer has no user id in sub")
            return answer
        if status == 401:
            raise Unavailable("latchkey refused the client credentials: check LATCHKEY['CLIENT_ID'] and ['CLIENT_SECRET']")
        raise self._refusal(status, headers)

    def forward_auth(self, token):
        """Ask GET /v1/forward-auth about token. Returns the claims of its
        identity headers (see claims_from_headers) when the token is
        valid; None when it is not. Raises Unavailable when the check
        could not run. Needs no client credentials."""
        status, headers, _ = self._request("GET", "/v1/forward-auth", None, {"Authorization": "Bearer " + token})
        if status == 200:
            claims = claims_from_headers(headers.get)
            if claims is None:
                raise Unavailable("latchkey's forward-auth answer has no user id in X-Latchkey-User-Id")
            return claims
        if status == 401:
            return None
        raise self._refusal(status, headers)

    def _refusal(self, status, headers):
        if status in (429, 503):
            return Unavailable("latchkey answered %d" % status, retry_after(headers.get("Retry-After")))
        return Unavailable("latchkey answered %d" % status)

    def _connection(self):
        """This thread's connection, and whether it has carried a request
        before (a kept-alive connection the server may have closed since)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid != os.getpid():
            # Made before a fork: the socket is the parent's.
            conn = None
        if conn is None:
            if self.scheme == "https":
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn, conn.sock is not None

    def _request(self, method, path, body, headers):
        for attempt in (1, 2):
            conn, reused = self._connection()
            try:
                conn.request(method, self.base + path, body=body, headers=headers)
                res = conn.getresponse()
                data = res.read(MAX_ANSWER + 1)
                if len(data) > MAX_ANSWER:
                    conn.close()
                    raise Unavailable("latchkey's answer is over %d bytes" % MAX_ANSWER)
                return res.status, res.headers, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                conn.close()
                if reused and attempt == 1:
                    # The server closed the idle connection: once more on a new one.
                    continue
                raise Unavailable("no answer from %r: %s" % (self, describe(e)))
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise Unavailable("no answer from %r: %s" % (self, describe(e)))


def claims_from_headers(get):
    """The claims of latchkey's identity headers, as /v1/forward-auth sends
    them and a forward-auth proxy passes them on, in the form of an
    introspection answer: "active", "token_type", "sub" (the user id),
    "username", "email", "jti" (the session id) and "exp" (Unix seconds);
    no "iat". get(name) returns a header's value or None. None when
    X-Latchkey-User-Id is missing or not a user id."""
    user_id = get("X-Latchkey-User-Id")
    if not user_id or not USER_ID.match(user_id):
        return None
    return {
        "active": True,
        "token_type": "Bearer",
        "sub": user_id,
        "username": utf8(get("X-Latchkey-Username")),
        "email": utf8(get("X-Latchkey-Email")),
        "jti": get("X-Latchkey-Session-Id") or "",
        "exp": unix(get("X-Latchkey-Expires-At")),
    }


def utf8(value):
    """A header value as latchkey wrote it, UTF-8: http.client and WSGI
    (PEP 3333) give header bytes decoded as ISO-8859-1."""
    if not value:
        return ""
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        # Not bytes as ISO-8859-1: decoded already (Django's test client).
        return value


def unix(value):
    """X-Latchkey-Expires-At, RFC 3339 in UTC, in Unix seconds."""
    try:
        return calendar.timegm(time.strptime(value or "", "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None


def describe(e):
    return "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__


def retry_after(value):
    """Retry-After in seconds, when latchkey gave it as seconds."""
    if value and re.match(r"\A[0-9]{1,6}\Z", value):
        return int(value)
    return None
