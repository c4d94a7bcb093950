"""The machinery that finds, validates, orders, migrates, starts and stops plugins."""
