"""The Django app of queue-max (label `queue_max`): registers its system checks and settings hooks."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig  # type: ignore[import-untyped,unused-ignore]

__all__ = ["QueueMaxConfig"]


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # override_settings(QUEUE_MAX=...) in tests: the next get_queue() reads the new settings
    if setting == "QUEUE_MAX":
        from .conf import reset_queue

        reset_queue()


class QueueMaxConfig(AppConfig):  # type: ignore[misc,unused-ignore]
    """`INSTALLED_APPS = [..., "queue_max.contrib.django"]`; the queue itself is built on first use."""

    name = "queue_max.contrib.django"
    label = "queue_max"
    verbose_name = "queue-max"

    def ready(self) -> None:
        from django.core import checks  # type: ignore[import-untyped,unused-ignore]
        from django.core.signals import setting_changed  # type: ignore[import-untyped,unused-ignore]

        from .checks import check_settings

        checks.register(check_settings, "queue_max")
        setting_changed.connect(_settings_changed, dispatch_uid="queue_max.settings_changed")
