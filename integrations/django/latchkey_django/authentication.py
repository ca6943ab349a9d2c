"""Django REST Framework authentication by latchkey.

LatchkeyAuthentication asks latchkey about the token of each request and
takes the Django user whose primary key is latchkey's user id: `latchkey
import django` keeps Django's ids. LatchkeyRemoteUserAuthentication takes
the same user from the identity headers of latchkey's forward-auth answer,
which a reverse proxy in front of the project copied onto the request.
"""

import logging

from django.contrib.auth import get_user_model
from django.db import DatabaseError, router, transaction
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from . import client

logger = logging.getLogger("latchkey_django")


class LatchkeyUnavailable(exceptions.APIException):
    """The token could not be checked: latchkey is unreachable, too slow,
    refuses this service's client credentials, or answered 503. DRF answers
    503 (with Retry-After when latchkey gave one): the request is refused,
    never served as anonymous."""

    status_code = 503
    default_detail = _("Authentication is unavailable, try again later.")
    default_code = "authentication_unavailable"

    def __init__(self, detail=None, code=None, wait=None):
        super().__init__(detail, code)
        self.wait = wait


class LatchkeyAuthentication(BaseAuthentication):
    """Authenticates `Authorization: Bearer <token>` or `Token <token>` by
    asking latchkey (settings.LATCHKEY): POST /v1/introspect, or GET
    /v1/forward-auth in the "forward-auth" mode. request.user is the Django
    user whose primary key is latchkey's user id; request.auth is latchkey's
    answer, a dict with "sub", "username", "email", "exp", "jti" (the
    session id) and, from introspection only, "iat".

    No Authorization header, or another scheme: None, so that the next
    authentication class may try. A malformed header or a token latchkey
    does not accept: 401 with WWW-Authenticate. latchkey unreachable or
    unable to check: 503.
    """

    def authenticate(self, request):
        c = client.current_client()
        conf = client.current()
        token = self.token(request, conf)
        if token is None:
            return None
        try:
            answer = c.check(token)
        except client.Unavailable as e:
            logger.warning("token not checked: %s", e)
            raise LatchkeyUnavailable(wait=e.retry_after)
        if answer is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return user_for(answer, conf), answer

    def token(self, request, conf):
        """The token of the Authorization header, None when there is none of
        ours. The header's errors are DRF's TokenAuthentication's."""
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in conf.keywords:
            return None
        if len(auth) == 1:
            raise exceptions.AuthenticationFailed(_("Invalid token header. No credentials provided."))
        if len(auth) > 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header. Token string should not contain spaces."))
        try:
            token = auth[1].decode("ascii")
        except UnicodeError:
            token = None
        if token is None or not token.isprintable():
            raise exceptions.AuthenticationFailed(_("Invalid token header. Token string should not contain invalid characters."))
        return token

    def authenticate_header(self, request):
        return 'Bearer realm="%s"' % client.current().realm


class LatchkeyRemoteUserAuthentication(BaseAuthentication):
    """Authenticates the user named by X-Latchkey-User-Id, the identity
    header that a forward-auth proxy (nginx's auth_request, Caddy's
    forward_auth, Traefik's ForwardAuth) copies from latchkey's answer to
    /v1/forward-auth onto the request it lets through. latchkey is not
    asked: the proxy did.

    Safe ONLY behind a proxy that always overwrites the header, so that a
    client cannot send it itself: anyone who can reach the project
    otherwise can claim any user id.

    No header, or an empty one: None. A value that is not a user id: 401.
    request.auth is a dict of the identity headers, as the forward-auth
    mode of LatchkeyAuthentication makes it.
    """

    def authenticate(self, request):
        conf = client.current()
        meta = request.META
        if not meta.get("HTTP_X_LATCHKEY_USER_ID"):
            return None
        claims = client.claims_from_headers(lambda name: meta.get("HTTP_" + name.upper().replace("-", "_")))
        if claims is None:
            raise exceptions.AuthenticationFailed(_("Invalid user id header."))
        return user_for(claims, conf), claims

    def authenticate_header(self, request):
        return 'Bearer realm="%s"' % client.current().realm


def user_for(claims, conf):
    """The active Django user whose primary key is claims["sub"], latchkey's
    user id. One that does not exist is created when LATCHKEY["CREATE_USERS"]
    is set, and is otherwise, like an inactive one, a 401: latchkey vouches
    for the token, the Django project decides who may use it."""
    User = get_user_model()
    pk = int(claims["sub"])
    try:
        user = User._default_manager.get(pk=pk)
    except User.DoesNotExist:
        if not conf.create_users:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        user = create_user(User, pk, claims)
    if not getattr(user, "is_active", True):
        raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
    return user


def create_user(User, pk, claims):
    """Creates the user latchkey knows as pk, with its username and email
    and an unusable password: its password is latchkey's."""
    fields = {User._meta.pk.attname: pk, User.USERNAME_FIELD: claims.get("username") or ""}
    email_field = User.get_email_field_name()
    if email_field != User.USERNAME_FIELD and claims.get("email") and hasattr(User, email_field):
        fields[email_field] = claims["email"]
    user = User(**fields)
    user.set_unusable_password()
    db = router.db_for_write(User)
    try:
        with transaction.atomic(using=db):
            user.save(force_insert=True, using=db)
    except DatabaseError as e:
        # Made by a concurrent request, or the username is another user's.
        try:
            return User._default_manager.get(pk=pk)
        except User.DoesNotExist:
            logger.warning("user %d not created: %s", pk, e)
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
    logger.info("created user %d, as latchkey knows it", pk)
    return user
