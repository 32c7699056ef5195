"""benchmarks/results.md keeps every track's table: `python -m benchmarks --only <track>` replaces that
track's section (with the command, date and machine that measured it) and leaves the others as they were."""

from __future__ import annotations

import benchmarks.__main__ as bench
import pandas as pd


def test_one_track_replaces_its_own_section_and_keeps_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "RESULTS_MD", tmp_path / "results.md")
    monkeypatch.setattr(bench, "machine_summary", lambda: "test machine, 2 cores")
    old = pd.DataFrame([{"stage": "gan", "n": 1, "seconds": 1.0, "rate": "old"}])
    new = pd.DataFrame([{"stage": "gan", "n": 1, "seconds": 2.0, "rate": "new"}])
    first = {name: bench.section(name, old, ["--only", name]) for name in ("image", "text", "ray")}
    bench.RESULTS_MD.write_text(bench.markdown(first))

    sections = bench.previous_sections()
    assert sections == first
    sections["ray"] = bench.section("ray", new, ["--only", "ray"])
    text = bench.markdown(sections)

    assert text.count("| gan | 1 | 1.000 | old |") == 2 and text.count("| gan | 1 | 2.000 | new |") == 1
    assert [line for line in text.splitlines() if line.startswith("## ")] == ["## text", "## image", "## ray"]
    ray_part = text.split("## ray", 1)[1]
    assert "`python -m benchmarks --only ray`" in ray_part and "Machine: test machine, 2 cores." in ray_part


def test_without_a_previous_file_there_are_no_previous_sections(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "RESULTS_MD", tmp_path / "absent.md")
    assert bench.previous_sections() == {}
