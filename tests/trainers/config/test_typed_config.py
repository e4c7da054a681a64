"""The one table parser: keys, types, nesting and the field path in every error."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from trainers.config.typed import ConfigError, check_keys, from_table


@dataclass(frozen=True)
class Inner:
    rate: float = 0.5
    name: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ConfigError("rate", f"must be in [0, 1], got {self.rate}")


@dataclass(frozen=True)
class Outer:
    count: int = 1
    flag: bool = False
    sizes: tuple[int, ...] = (1,)
    pair: tuple[float, float] = (0.0, 1.0)
    inner: Inner = field(default_factory=Inner)
    layers: tuple[Inner, ...] = ()
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.count > 100:
            raise ValueError("count is too large for this test")


def test_a_table_becomes_nested_typed_dataclasses() -> None:
    got = from_table(Outer, {"count": 3, "sizes": [4, 5], "pair": [1, 2.5],
                             "inner": {"rate": 1, "name": "a"},
                             "layers": [{"rate": 0.25}], "extra": {"any": [1]}})
    assert got == Outer(count=3, sizes=(4, 5), pair=(1, 2.5), inner=Inner(1, "a"),
                        layers=(Inner(0.25),), extra={"any": [1]})
    assert type(got.inner.rate) is int  # kept as written: the serialised dict is unchanged
    assert from_table(Outer, {"sizes": 7}).sizes == (7,)  # one value = a one-element list
    assert from_table(Outer, {}) == Outer()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"cuont": 1}, "top.cuont: unknown key; allowed: count, flag, sizes, pair, inner, "
                       "layers, extra"),
        ({"inner": {"rat": 1}}, "top.inner.rat: unknown key; allowed: rate, name"),
        ({"count": "3"}, "top.count: must be an integer, got '3'"),
        ({"count": True}, "top.count: must be an integer, got True"),
        ({"flag": 1}, "top.flag: must be true or false, got 1"),
        ({"sizes": [1, "x"]}, "top.sizes[1]: must be an integer, got 'x'"),
        ({"pair": [1.0]}, "top.pair: must be a list of 2 values, got [1.0]"),
        ({"inner": 3}, "top.inner: must be a table, got 3"),
        ({"inner": {"name": 5}}, "top.inner.name: must be a string, got 5"),
        ({"layers": [{}, {"rate": 2}]}, "top.layers[1].rate: must be in [0, 1], got 2"),
        ({"extra": [1]}, "top.extra: must be a table, got [1]"),
        ({"count": 101}, "top: count is too large for this test"),
    ],
)
def test_errors_name_the_full_path(table: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_table(Outer, table, "top")
    assert str(err.value) == message


def test_fields_given_by_the_caller_are_not_keys_of_the_table() -> None:
    assert from_table(Outer, {"flag": True}, count=7) == Outer(count=7, flag=True)
    with pytest.raises(ConfigError, match=r"^count: unknown key; allowed: flag, sizes,"):
        from_table(Outer, {"count": 2}, count=7)


def test_check_keys_lists_the_allowed_keys_in_their_order() -> None:
    check_keys({"b": 1}, ["b", "a"], "t")
    with pytest.raises(ConfigError, match=r"^t\.c: unknown key; allowed: b, a$"):
        check_keys({"b": 1, "c": 2}, ["b", "a"], "t")
