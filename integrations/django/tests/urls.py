"""DRF views: one for authenticated users only (the default permission),
one open to anonymous users too, and one for authenticated users behind
a forward-auth proxy."""

from django.urls import path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from latchkey_django.authentication import LatchkeyRemoteUserAuthentication


def describe(request):
    user = request.user
    return {
        "authenticated": bool(user.is_authenticated),
        "id": user.pk,
        "username": user.get_username() if user.is_authenticated else None,
        "model": user._meta.label if user.is_authenticated else None,
        "auth": request.auth,
    }


@api_view(["GET", "POST"])
def whoami(request):
    return Response(describe(request))


@api_view(["GET"])
@permission_classes([AllowAny])
def public(request):
    return Response(describe(request))


@api_view(["GET"])
@authentication_classes([LatchkeyRemoteUserAuthentication])
def behind_proxy(request):
    return Response(describe(request))


urlpatterns = [
    path("whoami", whoami),
    path("public", public),
    path("behind-proxy", behind_proxy),
]
