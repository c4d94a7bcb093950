from peek.blueprints.mobile.blueprint import bp

__all__ = ["bp"]
