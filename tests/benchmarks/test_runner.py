"""Smoke tests of the benchmark runner: records have the schema, the table and JSON work.

No timing assertions: these machines are shared, and the numbers are the benchmark's
output, not its correctness.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from benchmarks.runner import bench, records_table, run_all
from benchmarks.training import crop_cache_records, make_record, trainer_vs_bare
from tests.helpers.bench import check_schema


def test_make_record_directions():
    low = make_record("x", 2.0, "s", "b", 1.0, 1.5)
    assert low["ratio"] == 2.0 and low["meets_target"] is False
    high = make_record("y", 2.0, "images/s", "b", 1.0, 1.5, better="higher")
    assert high["meets_target"] is True
    info = make_record("z", 1.0, "s", "b", 4.0, None)
    assert info["meets_target"] is None and info["ratio"] == 0.25
    with pytest.raises(ValueError, match="better"):
        make_record("w", 1.0, "s", "b", 1.0, 1.0, better="up")


def test_training_records_have_the_schema():
    rec = trainer_vs_bare("training.tiny", input_size=64, width=0.25, batch_size=2,
                          steps=1, repeats=1)
    check_schema(rec)
    assert rec["better"] == "higher" and rec["target_ratio"] == 0.9
    cache = crop_cache_records(n_images=4, input_size=64, repeats=1, batch_size=2)
    assert [r["name"] for r in cache] == ["training.crop_cache.batches",
                                          "training.crop_cache.open_and_read"]
    for r in cache:
        check_schema(r)
    assert records_table([rec, *cache]).row_count == 3


MODULE = '''
from benchmarks.training import best_of, make_record
from tests.helpers.bench import check_schema

def run(quick=False):
    secs = best_of({"sum": lambda: sum(range(20000)), "base": lambda: sum(range(10000))}, 2)
    return [make_record("toy.sum", secs["sum"], "s", "half the sum", secs["base"], 4.0,
                        quick=quick)]
'''


@pytest.fixture
def toy_modules(tmp_path, monkeypatch):
    (tmp_path / "bench_toy.py").write_text(textwrap.dedent(MODULE))
    broken = "def run(quick=False):\n    raise OSError('no disk')\n"
    (tmp_path / "bench_broken.py").write_text(broken)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("bench_toy", "bench_broken"):
        sys.modules.pop(name, None)


def test_cli_bench_writes_a_list_of_records(tmp_path, toy_modules, capsys):
    out = tmp_path / "out" / "bench.json"
    assert bench(quick=True, out=out, modules=(("toy", "bench_toy"),)) == 0
    rows = json.loads(out.read_text())
    assert isinstance(rows, list) and [r["name"] for r in rows] == ["toy.sum"]
    check_schema(rows[0])
    assert rows[0]["quick"] is True and rows[0]["mode"] == "quick"
    assert rows[0]["better"] == "lower" and "cpu" in rows[0]["machine"]
    assert "toy.sum" in capsys.readouterr().out


def test_a_failing_module_is_reported_and_the_rest_still_run(toy_modules):
    records, errors = run_all(True, (("broken", "bench_broken"), ("toy", "bench_toy")))
    assert [r["name"] for r in records] == ["toy.sum"]
    assert errors == ["broken: OSError: no disk"]
    modules = (("broken", "bench_broken"),)
    assert bench(quick=True, modules=modules) == 1
