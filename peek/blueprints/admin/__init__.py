from peek.blueprints.admin.blueprint import bp

__all__ = ["bp"]
