"""A bearer-token check: the request's user is the sync client when the token matches."""
import hmac
import os


class SyncClient:
    is_authenticated = True
    is_anonymous = False


class BearerTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.expected = "Bearer " + os.environ["ROSTER_DJANGO_TOKEN"]

    def __call__(self, request):
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), self.expected.encode()):
            request.user = SyncClient()
        return self.get_response(request)
