from peek.blueprints.peer.blueprint import bp

__all__ = ["bp"]
