"""WSGI entry point for production: the service named by ``PEEK_SERVICE``.

    PEEK_SERVICE=server gunicorn -c gunicorn.conf.py wsgi:application

``gunicorn.conf.py`` starts the service's runtime in the worker and stops it on
exit.  ``flask --app wsgi <command>`` runs the ``peek`` commands.
"""

import os

from peek.config import load_config
from peek.logs import setup_logging
from peek.serve import ServiceProcess

_config = load_config(os.environ.get("PEEK_SERVICE", "server"))
setup_logging(_config)

process = ServiceProcess(_config)
app = next(iter(process.apps.values()))
application = process.wsgi_application()
