import datetime
import threading

from flask import Blueprint, jsonify, render_template
from sqlalchemy import select

from peek.plugin_api import ActionContext, PluginApiError, TupleSelector

from ... import rpcs
from ...tuples import AddIntValueAction, StringCapToggleAction, StringIntTuple
from ..lifecycle import LoggingHook
from ..storage import JobRun, StringInt
from ..worker import tasks
from . import rpc_handlers
from .api import TutorialApiImpl
from .status import StatusLog


class ServerHook(LoggingHook):
    def load(self) -> None:
        super().load()
        self.status = StatusLog()
        self._api = TutorialApiImpl(self.platform)
        self._threads: list[threading.Thread] = []
        self._job = None
        self._job_error: str | None = None
        self._stopping = threading.Event()
        rpc_handlers.HOOK = self

        # Admin: the plugin's page, a dashboard panel and the StringInt editor.
        admin = Blueprint("admin", __name__, template_folder="../../templates")
        admin.add_url_rule("/", "index", self._index)
        admin.add_url_rule("/status", "status", self._status)
        admin.add_url_rule("/status.json", "status_json", self._status_json)
        admin.add_url_rule("/subtract", "subtract", self._subtract, methods=["POST"])
        admin.add_url_rule("/job", "job", self._job_panel)
        admin.add_url_rule("/job/start", "start_job", self._start_job, methods=["POST"])
        admin.add_url_rule("/task", "send_task", self._send_task, methods=["POST"])
        self.platform.add_blueprint(admin, "admin")
        self.platform.add_to_slot("admin.dashboard", "Tutorial",
                                  template="peek_plugin_tutorial/dashboard_panel.html",
                                  priority=800)
        self.platform.add_table_editor(StringInt, title="Tutorial string ints", priority=800,
                                       columns=["string1", "int1"], notify=StringIntTuple)

        # Observable: devices watching StringIntTuple get the rows.
        self.platform.add_tuple_provider(StringIntTuple, self.provide, devices=True)

        # Actions from the mobile page's buttons.
        self.platform.add_action_processor(self.toggle_capitals, StringCapToggleAction,
                                           devices=True)
        self.platform.add_action_processor(self.add_int_value, AddIntValueAction,
                                           devices=True)

        # RPCs the agent calls.
        for function in (rpcs.add_ints, rpcs.report_status, rpcs.insert_string_int):
            self.platform.serve_rpc(function)

    def start(self) -> None:
        super().start()
        self._stopping.clear()
        self.send_task()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads = []
        super().stop()

    def unload(self) -> None:
        rpc_handlers.HOOK = None
        super().unload()

    @property
    def public_api(self) -> TutorialApiImpl:
        return self._api

    # Observable ----------------------------------------------------------

    def provide(self, selector: TupleSelector) -> list[StringIntTuple]:
        return self._api.string_ints()

    # Actions -------------------------------------------------------------

    def _row(self, ctx: ActionContext, row_id: int) -> StringInt:
        row = ctx.session.get(StringInt, row_id)
        if row is None:
            raise ValueError(f"there is no row {row_id}")
        return row

    def toggle_capitals(self, action: StringCapToggleAction,
                        ctx: ActionContext) -> StringIntTuple:
        row = self._row(ctx, action.id)
        row.string1 = row.string1.lower() if row.string1.isupper() else row.string1.upper()
        ctx.after_commit(lambda: self.platform.notify(StringIntTuple))
        return StringIntTuple(id=row.id, string1=row.string1, int1=row.int1)

    def add_int_value(self, action: AddIntValueAction, ctx: ActionContext) -> StringIntTuple:
        row = self._row(ctx, action.id)
        row.int1 += action.offset
        ctx.after_commit(lambda: self.platform.notify(StringIntTuple))
        return StringIntTuple(id=row.id, string1=row.string1, int1=row.int1)

    # RPC: the server calls the agent --------------------------------------

    def subtract_on_agent(self, a: int, b: int) -> int | None:
        try:
            result = self.platform.call_rpc(rpcs.subtract_ints, a, b)
        except Exception as e:
            self.platform.log.warning("the agent could not subtract: %s", e)
            self.status.add("subtract_ints", f"the agent could not subtract: {e}")
            return None
        self.platform.log.info("the agent answered %s - %s = %s", a, b, result)
        self.status.add("subtract_ints", f"the agent answered {a} - {b} = {result}")
        return result

    def agent_reported(self) -> None:
        """An agent said it started: ask it something back, from a thread of
        our own (calling an RPC blocks)."""
        thread = threading.Thread(target=self.subtract_on_agent, args=(10, 3),
                                  name="tutorial-subtract", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    # Another plugin's API: a task for a user ---------------------------------

    def send_task(self) -> str:
        """Give the user of the task_user setting a task through
        peek_plugin_active_task's API, if it runs; returns what happened."""
        user = self.platform.settings.get("task_user").strip()
        if not user:
            return "No task sent: the task_user setting is empty."
        try:
            tasks = self.platform.get_other_plugin_api("peek_plugin_active_task")
        except PluginApiError as e:
            self.platform.log.info("no task sent: %s", e)
            return f"No task sent: {e}"
        # Imported here, not at the top: the tutorial does not require
        # active_task, and gets its current code after an upgrade.
        from peek.plugins.peek_plugin_active_task.api import AutoDelete, NewTask
        try:
            task = tasks.add_task(NewTask(
                plugin_name="peek_plugin_tutorial", key="tutorial-task", user_name=user,
                title="A task from the tutorial plugin",
                description="Open it to see the tutorial's page: that deletes it.",
                route="/peek_plugin_tutorial/", auto_delete=AutoDelete.WHEN_OPENED,
                overwrite=True))
        except Exception as e:  # an unknown user, the user directory away
            self.platform.log.warning("no task sent to %s: %s", user, e)
            return f"No task sent to {user}: {e}"
        self.platform.log.info("sent task %s to %s", task.id, task.user)
        return f"Sent a task to {task.user}."

    # Worker job ----------------------------------------------------------

    def start_job(self):
        """Sum the ints of every row on the Dask workers, in blocks."""
        if self._job is not None and not self._job.finished:
            return self._job
        with self.platform.db_session() as session:
            ids = session.scalars(select(StringInt.id).order_by(StringInt.id)).all()
        self._job_error = None
        self._job = self.platform.workers.batch(
            tasks.read_ints, list(ids), chunk_size=self.platform.settings.get("job_chunk_size"),
            title="Tutorial: sum the ints")
        thread = threading.Thread(target=self._store_result, args=(self._job,),
                                  name="tutorial-job", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return self._job

    def _store_result(self, job) -> None:
        while not job.wait(1):
            if self._stopping.is_set():
                return  # the plugin stops: a job left running is not stored
        try:
            ints = job.result(timeout=0)
        except Exception as e:
            self._job_error = f"{type(e).__name__}: {e}"
            self.platform.log.warning("the tutorial job failed: %s", self._job_error)
            return
        with self.platform.db_session() as session:
            session.add(JobRun(finished=datetime.datetime.now(datetime.timezone.utc),
                               rows=len(ints), total=sum(ints)))
            session.commit()
        self.platform.log.info("the tutorial job summed %s rows: %s", len(ints), sum(ints))

    def last_run(self) -> dict | None:
        with self.platform.db_session() as session:
            run = session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(1)).first()
            return run and {"finished": run.finished.isoformat(), "rows": run.rows,
                            "total": run.total}

    # Admin pages ---------------------------------------------------------

    def _index(self) -> str:
        return render_template("peek_plugin_tutorial/admin.html")

    def _status(self) -> str:
        return render_template("peek_plugin_tutorial/_status.html", events=self.status.events())

    def _subtract(self) -> str:
        self.subtract_on_agent(100, 58)
        return self._status()

    def _job_state(self) -> dict:
        job = self._job
        return {"job": job and job.as_dict(), "error": self._job_error,
                "last_run": self.last_run()}

    def _job_panel(self) -> str:
        return render_template("peek_plugin_tutorial/_job.html", **self._job_state())

    def _start_job(self) -> str:
        self.start_job()
        return self._job_panel()

    def _send_task(self) -> str:
        return render_template("peek_plugin_tutorial/_task.html", message=self.send_task())

    def _status_json(self):
        return jsonify(events=self.status.events(), **self._job_state())
