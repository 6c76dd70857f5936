import json
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

PAGE = (Path(__file__).parent / 'page.html').read_text()


class StaffClaimTokenSerializer(TokenObtainPairSerializer):
    """SimpleJWT's documented way to add a claim: the gateway reads `is_staff` as its admin flag."""

    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token['is_staff'] = user.is_staff
        return token


def frontend(request):
    # JSON in a <script>: escaping '<' keeps a '</script>' in the value from closing the tag.
    gateway = json.dumps(settings.GATEWAY_URL).replace('<', '\\u003c')
    return HttpResponse(PAGE.replace("'{{GATEWAY}}'", gateway), content_type='text/html; charset=utf-8')
