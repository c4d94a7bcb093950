"""Service-to-service links: client and agent services connect up to the server."""
