from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Tower console"

    def ready(self):
        from console.auth import signals  # noqa: F401  (sign-ins are audited from Django's auth signals)
