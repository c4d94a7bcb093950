"""Tuples: declared, registered, encoded with their type name and decoded back
to the same class, with every field checked."""

import datetime
import enum
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from peek.vortex.tuples import Tuple, TupleError, decode, encode, orm_tuple, tuple_type


# Type names start with the declaring module's top-level package (this module's
# name depends on how pytest imports it).
PKG = __name__.split(".")[0]


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Part(Tuple, tag=f"{PKG}.Part"):
    number: int
    label: str = ""


class Sample(Tuple, tag=f"{PKG}.Sample"):
    count: int
    ratio: float
    name: str
    on: bool
    off: bool
    mixed: list[Any]
    extra: dict[str, Any]
    part: Part
    parts: list[Part]
    parts_by_name: dict[str, Part]
    when: datetime.datetime | None = None
    colour: Colour | None = None
    note: str | None = None


def sample() -> Sample:
    brisbane = datetime.timezone(datetime.timedelta(hours=10))
    return Sample(count=3, ratio=0.5, name="sample", on=True, off=False,
                  mixed=[1, "two", 3.5, None, True], extra={"a": [1, 2], "b": None},
                  part=Part(number=1, label="one"), parts=[Part(number=2), Part(number=3)],
                  parts_by_name={"x": Part(number=4, label="x")},
                  when=datetime.datetime(2026, 11, 22, 9, 30, tzinfo=brisbane),
                  colour=Colour.BLUE)


def test_a_tuple_comes_back_as_the_same_class_with_the_same_values():
    original = sample()
    frame = encode(original)
    assert frame.startswith(f'{{"_tt":"{PKG}.Sample"'.encode())
    back = decode(frame)
    assert type(back) is Sample and back == original
    assert type(back.parts[1]) is Part and type(back.parts_by_name["x"]) is Part
    assert back.when.utcoffset() == datetime.timedelta(hours=10)
    assert back.colour is Colour.BLUE and back.note is None
    assert decode(encode([original, Part(number=9)])) == [original, Part(number=9)]
    assert tuple_type(f"{PKG}.Part") is Part


@pytest.mark.parametrize("frame, message", [
    ('{"_tt":"PKG.Nowhere","number":1}', "unknown tuple type 'PKG.Nowhere'"),
    ('{"_tt":"PKG.Part","number":"1"}', "Expected `int`, got `str` - at `$.number`"),
    ('{"_tt":"PKG.Sample","count":1}', "missing required field"),
    ('{"number":1}', "an object without its type name (_tt)"),
    ('{"_tt":"PKG.Part",', "not valid JSON"),
])
def test_bad_frames_are_clear_errors_never_plain_dicts(frame, message):
    with pytest.raises(TupleError) as error:
        decode(frame.replace("PKG", PKG).encode())
    assert message.replace("PKG", PKG) in str(error.value)


def test_type_names_are_required_unique_and_start_with_the_package():
    with pytest.raises(TupleError, match='needs a type name: declare it as class '
                                         f'Nameless\\(Tuple, tag="{PKG}.Nameless"\\)'):
        class Nameless(Tuple):
            pass
    with pytest.raises(TupleError, match=f"'peek_plugin_other.Thing' must start with '{PKG}.'"):
        class Thing(Tuple, tag="peek_plugin_other.Thing"):
            pass
    with pytest.raises(TupleError, match=f"'{PKG}.Part' is taken by {__name__}.Part"):
        class Imposter(Tuple, tag=f"{PKG}.Part"):
            pass
    assert tuple_type(f"{PKG}.Part") is Part


def test_things_that_are_not_tuples_are_refused_on_encode():
    with pytest.raises(TupleError, match="cannot encode: object is not a tuple"):
        encode(object())


class Base(DeclarativeBase):
    pass


@orm_tuple(f"{PKG}.Gadget")
class Gadget(Base):
    __tablename__ = "gadget"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sqlalchemy.String(40))
    made: Mapped[datetime.date | None]


def test_an_orm_row_travels_as_a_tuple(engine):
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Gadget(id=7, name="sprocket", made=datetime.date(2026, 1, 2)))
        session.commit()
        row = session.get(Gadget, 7)
        frame = encode([row])
    assert f'"_tt":"{PKG}.Gadget"'.encode() in frame and b'"made":"2026-01-02"' in frame
    (back,) = decode(frame)
    assert type(back) is Gadget
    assert (back.id, back.name, back.made) == (7, "sprocket", datetime.date(2026, 1, 2))


def test_a_plugin_tuple_name_starts_with_the_plugin_package_bundled_or_not():
    from peek.vortex.tuples import _TupleMeta

    def declare(module, tag):
        return _TupleMeta("Thing", (Tuple,), {"__module__": module,
                                              "__qualname__": f"Thing{len(module)}"}, tag=tag)

    assert declare("peek.plugins.peek_plugin_tbundled._private.tuples",
                   "peek_plugin_tbundled.Thing")
    assert declare("peek_core_tinstalled.tuples", "peek_core_tinstalled.Thing")
    with pytest.raises(TupleError, match="must start with 'peek_plugin_tbundled.'"):
        declare("peek.plugins.peek_plugin_tbundled.tuples", "peek.Thing")


class Note(Tuple, tag=f"{PKG}.Note", per_user=True):
    text: str = ""


def test_a_per_user_selector_always_names_the_signed_in_user_and_nobody_else():
    from peek.vortex.selector import TupleSelector, for_user

    asked = TupleSelector.of(Note, user="bob", topic="a")  # a device asking for bob's
    assert for_user(asked, "alice") == TupleSelector.of(Note, user="alice", topic="a")
    assert for_user(asked, None) == TupleSelector.of(Note, topic="a")
    shared = TupleSelector.of(Part, user="bob")  # not per-user: left as it is
    assert for_user(shared, "alice") is shared
    assert decode(encode(Note(text="x"))) == Note(text="x")  # still an ordinary tuple


def test_the_server_refuses_a_per_user_selector_without_a_user():
    from concurrent.futures import ThreadPoolExecutor

    from peek.vortex import frames
    from peek.vortex.observable import Observables
    from peek.vortex.selector import TupleSelector

    class Inbox:
        name = "inbox"

        def __init__(self):
            self.frames = []

        def send(self, frame):
            self.frames.append(frames.parse(frame))
            return True

    with ThreadPoolExecutor(2) as executor:
        observables = Observables(executor)
        observables.add_provider(f"{PKG}.Note", lambda s: [Note(text=s.filter["user"])],
                                 owner=PKG)
        anonymous, alice = Inbox(), Inbox()
        observables.subscribe(anonymous, TupleSelector.of(Note))
        observables.subscribe(alice, TupleSelector.of(Note, user="alice"))
    assert anonymous.frames[0].type == "error"
    assert "per-user" in anonymous.frames[0].error and "sign in" in anonymous.frames[0].error
    assert [m.type for m in alice.frames] == ["data"]
    assert decode(alice.frames[0].tuples) == [Note(text="alice")]
