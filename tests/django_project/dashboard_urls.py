"""URLconf the dashboard's Django tests fill with `django_urls(dashboard)` under /queue/."""

from typing import Any

urlpatterns: list[Any] = []
