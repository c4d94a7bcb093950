"""The platform's own tables (schema ``peek``)."""

from peek.models.admin_user import AdminUser
from peek.models.platform_setting import PlatformSetting
from peek.models.vortex_action import VortexAction

__all__ = ["AdminUser", "PlatformSetting", "VortexAction"]
