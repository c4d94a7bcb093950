"""The platform's own tables (schema ``peek``)."""

from peek.models.platform_setting import PlatformSetting

__all__ = ["PlatformSetting"]
