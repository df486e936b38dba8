"""Fixtures of the test Django project, imported by each Django test module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

__all__ = ["django_project_settings"]


@pytest.fixture(scope="module", autouse=True)
def django_project_settings() -> Iterator[None]:
    """Django set up with tests/django_project/settings.py for the module's tests."""
    import django

    before = os.environ.get("DJANGO_SETTINGS_MODULE")
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_project.settings"
    django.setup()
    yield
    # Django keeps its settings once set up; later tests' subprocesses need not inherit ours
    if before is None:
        del os.environ["DJANGO_SETTINGS_MODULE"]
    else:
        os.environ["DJANGO_SETTINGS_MODULE"] = before
