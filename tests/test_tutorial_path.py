"""A new developer follows docs/tutorial.md: scaffold a plugin, add a table and
its migration, tuples, an observable and an action, build and install it, run
the platform, and use it over REST and the device websocket."""

import json
import textwrap
import uuid
from pathlib import Path

import requests
import sqlalchemy

from tests.conftest import peek_cli
from tests.vortex_harness import Device, ServiceRun

NAME = "peek_plugin_mytutorial"
ROW = f"{NAME}.StringIntTuple"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def follow_the_tutorial(project: Path) -> None:
    """Steps 3, 5, 6 and 7 of docs/tutorial.md, on the scaffolded project."""
    package = project / NAME
    # 3. A table, and a migration creating it after the scaffold's first one.
    write(package / "_private" / "storage.py", """
        from sqlalchemy import Integer, MetaData, String
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


        class Base(DeclarativeBase):
            metadata = MetaData(schema="pl_mytutorial")


        class StringInt(Base):
            __tablename__ = "string_int"

            id: Mapped[int] = mapped_column(Integer, primary_key=True)
            string1: Mapped[str] = mapped_column(String(50))
            int1: Mapped[int] = mapped_column(Integer, default=0)
        """)
    write(package / "_private" / "migrations" / "versions" / "0002_string_int.py", """
        import sqlalchemy as sa
        from alembic import op

        revision = "0002"
        down_revision = "0001"


        def upgrade():
            op.create_table(
                "string_int",
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("string1", sa.String(50), nullable=False),
                sa.Column("int1", sa.Integer, nullable=False, server_default="0"),
            )


        def downgrade():
            op.drop_table("string_int")
        """)
    # 5. Tuples: a row as devices see it, and an action.
    write(package / "tuples.py", f"""
        from peek.plugin_api import Tuple


        class StringIntTuple(Tuple, tag="{NAME}.StringIntTuple"):
            id: int
            string1: str
            int1: int = 0


        class AddIntValueAction(Tuple, tag="{NAME}.AddIntValueAction"):
            id: int
            offset: int = 1
        """)
    # 6. and 7. The server provides the rows and applies the action.
    write(package / "_private" / "server" / "hook.py", f"""
        from peek.plugin_api import ActionContext, PluginHook, TupleSelector

        from {NAME}._private.storage import StringInt
        from {NAME}.tuples import AddIntValueAction, StringIntTuple


        def as_tuple(row: StringInt) -> StringIntTuple:
            return StringIntTuple(id=row.id, string1=row.string1, int1=row.int1)


        class ServerHook(PluginHook):
            def load(self) -> None:
                self.platform.add_tuple_provider(StringIntTuple, self.provide, devices=True)
                self.platform.add_action_processor(self.add_int_value, AddIntValueAction,
                                                   devices=True)

            def provide(self, selector: TupleSelector) -> list[StringIntTuple]:
                with self.platform.db_session() as session:
                    return [as_tuple(r) for r in session.query(StringInt).order_by(StringInt.id)]

            def add_int_value(self, action: AddIntValueAction, ctx: ActionContext):
                row = ctx.session.get(StringInt, action.id)
                if row is None:
                    raise ValueError(f"there is no row {{action.id}}")
                row.int1 += action.offset
                ctx.after_commit(lambda: self.platform.notify(StringIntTuple))
                return as_tuple(row)
        """)


def test_a_scaffolded_plugin_grown_as_the_tutorial_says_works_over_rest_and_the_websocket(
        configured, site_ports, tmp_path, database_url):
    project = tmp_path / "projects" / NAME
    new = peek_cli("plugin", "new", NAME, "--services", "server,client,storage,mobile",
                   "--dir", str(project), home=configured)
    assert new.returncode == 0, new.stderr
    follow_the_tutorial(project)

    built = peek_cli("plugin", "build", str(project), "--out", str(tmp_path / "dist"),
                     home=configured, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    installed = peek_cli("plugin", "install", str(wheel), home=configured)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    for service in ("server", "client"):
        config = json.loads((configured / f"peek-{service}.home" / "config.json").read_text())
        assert NAME in config["plugin"]["enabled"], service

    server = ServiceRun("server", configured, site_ports["admin"]).start()
    client = ServiceRun("client", configured, site_ports["mobile"]).start()
    device = None
    try:
        server.wait_ready()
        client.wait_ready()
        # The server ran both migrations: the table is there.
        engine = sqlalchemy.create_engine(database_url.replace("postgresql:",
                                                               "postgresql+psycopg2:"))
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(
                "INSERT INTO pl_mytutorial.string_int (id, string1, int1) VALUES (1, 'apples', 3)"))
        engine.dispose()

        base = f"http://127.0.0.1:{site_ports['mobile']}"
        selector = json.dumps({"name": ROW})
        data = requests.get(f"{base}/vortex/api/data", params={"selector": selector},
                            timeout=30).json()
        assert data["tuples"] == [{"_tt": ROW, "id": 1, "string1": "apples", "int1": 3}]

        device = Device(site_ports["mobile"])
        device.subscribe(ROW)
        assert device.data()[0]["int1"] == 3
        action_id = device.act({"_tt": f"{NAME}.AddIntValueAction", "id": 1, "offset": 2})
        assert device.answer(action_id)["result"]["int1"] == 5
        assert device.data(where=lambda t: t and t[0]["int1"] == 5)

        # The same action id again over REST: the recorded answer, applied once.
        again = requests.post(f"{base}/vortex/api/actions", timeout=30, json={
            "type": "action", "id": action_id,
            "tuple": {"_tt": f"{NAME}.AddIntValueAction", "id": 1, "offset": 2}})
        assert again.status_code == 200 and again.json()["result"]["int1"] == 5
        refused = requests.post(f"{base}/vortex/api/actions", timeout=30, json={
            "type": "action", "id": str(uuid.uuid4()),
            "tuple": {"_tt": f"{NAME}.AddIntValueAction", "id": 99}})
        assert refused.status_code == 422
        assert refused.json()["error"] == "ValueError: there is no row 99"
        data = requests.get(f"{base}/vortex/api/data", params={"selector": selector},
                            timeout=30).json()
        assert data["tuples"][0]["int1"] == 5
        # The scaffold's mobile page is served with the site's layout.
        page = requests.get(f"{base}/{NAME}/", timeout=30)
        assert page.status_code == 200 and "vortex-status" in page.text
    finally:
        if device is not None:
            device.close()
        client.stop()
        server.stop()
