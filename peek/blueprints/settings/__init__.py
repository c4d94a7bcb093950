from peek.blueprints.settings.blueprint import bp

__all__ = ["bp"]
