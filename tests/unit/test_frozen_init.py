"""`operators.frozen.fast_init`: the hot frozen dataclasses keep their constructor's behaviour."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

from operators.events import BookDelta, PoolUpdate, RawFrame
from operators.frozen import fast_init
from operators.views import CexBookView, ClmmView, ClobView

HOT = (RawFrame, BookDelta, PoolUpdate, CexBookView, ClmmView, ClobView)


def _reference(cls: type[Any], values: dict[str, Any]) -> Any:
    """What the generated frozen `__init__` stores: every field by `object.__setattr__`."""
    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):
        object.__setattr__(obj, f.name, values.get(f.name, f.default))
    return obj


@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
def test_fast_init_stores_every_field_as_given_positionally_or_by_keyword(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    values = {f.name: (i, f.name) for i, f in enumerate(fields)}  # distinct value per field
    by_kw = cls(**values)
    by_pos = cls(*values.values())
    ref = _reference(cls, values)
    for f in fields:
        assert getattr(by_kw, f.name) == getattr(by_pos, f.name) == values[f.name]
    assert repr(by_kw) == repr(by_pos) == repr(ref)
    assert pickle.loads(pickle.dumps(by_kw)).__reduce__() == by_kw.__reduce__()
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_kw.__setattr__(fields[0].name, 0)


@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
def test_fast_init_keeps_defaults_and_refuses_missing_or_unknown_arguments(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    required = {f.name: f.name for f in fields if f.default is dataclasses.MISSING}
    obj = cls(**required)
    for f in fields:
        assert getattr(obj, f.name) == required.get(f.name, f.default)
    params = list(inspect.signature(cls).parameters)
    assert params == [f.name for f in fields]
    with pytest.raises(TypeError):
        cls(*list(required.values())[:-1])
    with pytest.raises(TypeError):
        cls(**required, not_a_field=1)


def test_fast_init_refuses_what_it_cannot_reproduce() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class KwOnly:
        a: int = field(kw_only=True)

    for cls in (NoSlots, NotFrozen, Factory, PostInit, KwOnly):
        with pytest.raises(TypeError, match="fast_init"):
            fast_init(cls)
