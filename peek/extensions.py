"""Flask extensions, created once here and initialised by the app factory."""

import flask_sock
from flask_migrate import Migrate
from flask_sock import Sock
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

from peek.vortex.websocket import WebSocketServer

#: The platform's own tables live in this PostgreSQL schema; each plugin gets its own.
PLATFORM_SCHEMA = "peek"

db = SQLAlchemy(metadata=MetaData(schema=PLATFORM_SCHEMA))
migrate = Migrate()
sock = Sock()
# flask-sock builds each route's websocket with its module's ``Server``: ours
# reads frames without wsproto (see peek.vortex.websocket).
flask_sock.Server = WebSocketServer
#: CSRF tokens on every admin form and HTMX request (``X-CSRFToken`` header).
csrf = CSRFProtect()
