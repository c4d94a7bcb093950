from peek.blueprints.desktop.blueprint import bp

__all__ = ["bp"]
