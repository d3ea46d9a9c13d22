"""WSGI entry point for gunicorn.

A worker refuses to boot when the key file is missing, malformed or not the one the database
was encrypted with (DESIGN.md §2.2: never serve values it cannot read as if they were empty).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anke.settings")
application = get_wsgi_application()

from anke.encryption.checks import check_key_file  # noqa: E402 - needs Django set up

check_key_file()
