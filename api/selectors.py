from django.db.models import QuerySet

from api.models import ApiToken


def api_tokens_list() -> QuerySet[ApiToken]:
    return ApiToken.objects.select_related("team").order_by("name")
