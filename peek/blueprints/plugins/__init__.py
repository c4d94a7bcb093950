from peek.blueprints.plugins.blueprint import bp

__all__ = ["bp"]
