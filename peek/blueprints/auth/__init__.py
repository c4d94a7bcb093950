from peek.blueprints.auth.blueprint import bp

__all__ = ["bp"]
