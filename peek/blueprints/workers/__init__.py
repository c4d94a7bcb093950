from peek.blueprints.workers.blueprint import bp

__all__ = ["bp"]
