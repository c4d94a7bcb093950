import sys

from peek.greenlets import GREENLET_SERVICES, patch

if sys.argv[1:2] and sys.argv[1] in GREENLET_SERVICES:
    patch()  # before anything opens a socket or takes a lock

from peek.cli import main  # noqa: E402

main()
