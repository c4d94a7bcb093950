from peek.blueprints.vortex.blueprint import bp

__all__ = ["bp"]
