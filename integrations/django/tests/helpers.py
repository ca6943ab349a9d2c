"""What the tests of both classes check in DRF's answers."""

REALM = 'Bearer realm="api"'


def get(api, path, authorization=None):
    if authorization is None:
        return api.get(path)
    return api.get(path, HTTP_AUTHORIZATION=authorization)


def assert_refused(res, detail):
    assert res.status_code == 401, res.content
    assert res["WWW-Authenticate"] == REALM
    assert res.json() == {"detail": detail}


def assert_unavailable(res):
    assert res.status_code == 503, res.content
    assert res.json() == {"detail": "Authentication is unavailable, try again later."}
    assert not res.has_header("WWW-Authenticate")
