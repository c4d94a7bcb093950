"""Flask extensions, created once here and initialised by the app factory."""

from flask_migrate import Migrate
from flask_sock import Sock
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

#: The platform's own tables live in this PostgreSQL schema; each plugin gets its own.
PLATFORM_SCHEMA = "peek"

db = SQLAlchemy(metadata=MetaData(schema=PLATFORM_SCHEMA))
migrate = Migrate()
sock = Sock()
#: CSRF tokens on every admin form and HTMX request (``X-CSRFToken`` header).
csrf = CSRFProtect()
