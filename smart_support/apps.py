from django.apps import AppConfig


class SmartSupportConfig(AppConfig):
    name = "smart_support"
    verbose_name = "Smart Support"

    def ready(self) -> None:
        from django.core import checks

        from smart_support.checks import check_safe_to_serve

        # Not tagged "deploy": it runs before runserver, migrate and every other command, and wsgi.py
        # runs it before gunicorn serves.
        checks.register(check_safe_to_serve)
