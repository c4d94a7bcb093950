from peek.blueprints.health.blueprint import bp

__all__ = ["bp"]
