"""The test suite's settings: the project's own, in debug — the development key and the embedded database
are fine here. Set in the environment, so the commands and servers the tests start inherit it (pytest-django
still runs each test with ``settings.DEBUG`` off, as Django's test runner does)."""

import os

os.environ.setdefault("DEBUG", "true")

from smart_support.settings import *  # noqa: E402, F403
