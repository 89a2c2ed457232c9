"""The WSGI application gunicorn serves (deploy/gunicorn.conf.py).

Django runs its system checks before runserver and migrate but not under a WSGI server: they run here,
so a process outside debug with the development key, no ALLOWED_HOSTS or no database refuses to start.
"""

import gc
import os

from django.core.management import call_command
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smart_support.settings")
application = get_wsgi_application()
call_command("check", fail_level="ERROR")  # raises SystemCheckError, naming each error and its fix
# Everything loaded so far lives as long as the process: keep the cyclic GC from rescanning it on
# every collection (a measurable share of p95 latency; see bench/README.md).
gc.freeze()
