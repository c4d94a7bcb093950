"""Administrators of the admin site: accounts, sign-in with lock-out, the guard
that keeps every admin page and API behind sign-in."""
