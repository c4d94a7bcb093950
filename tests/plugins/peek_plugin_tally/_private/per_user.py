"""Per-user data and the user of actions, for tests/test_device_sign_in.py."""

import time

from peek_plugin_tally.tuples import MyTally, WhoAmI


def who_am_i(action: WhoAmI, ctx) -> dict:
    time.sleep(action.pause_s)
    return {"user": ctx.user}


def register(platform):
    platform.add_tuple_provider(
        MyTally, lambda selector: [MyTally(user=selector.filter["user"],
                                           note=str(selector.filter.get("note", "")))],
        devices=True)
    platform.add_action_processor(who_am_i, WhoAmI, devices=True)


def register_client(platform):
    """``/peek_plugin_tally/whoami``: the signed-in user as peek_core_user's
    client API (UserClientApi) says."""
    from flask import Blueprint, jsonify

    from peek.plugins.peek_core_user.api import UserClientApi

    bp = Blueprint("whoami", __name__)

    @bp.route("/whoami")
    def whoami():
        api = platform.get_other_plugin_api("peek_core_user")
        user = api.current_user()
        return jsonify(name=user and user.name, display_name=user and user.display_name,
                       groups=user and user.groups,
                       api="UserClientApi" if isinstance(api, UserClientApi) else repr(api))

    @bp.route("/lookups")
    def lookups():
        """The client API's lookups (RPCs to the server), from a client plugin."""
        from flask import request

        api = platform.get_other_plugin_api("peek_core_user")
        found = api.find_user(request.args["name"])
        checked = api.check_password(request.args["name"], request.args["password"])
        return jsonify(found=found and found.name, enabled=found and found.enabled,
                       password_right=checked is not None,
                       in_ops=[u.name for u in api.users_in_group("ops")],
                       everyone=[u.name for u in api.list_users(include_disabled=True)])

    platform.add_blueprint(bp, "mobile")
