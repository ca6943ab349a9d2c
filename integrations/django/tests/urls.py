"""Two DRF views: one for authenticated users only (the default
permission), one open to anonymous users too."""

from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response


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


urlpatterns = [
    path("whoami", whoami),
    path("public", public),
]
