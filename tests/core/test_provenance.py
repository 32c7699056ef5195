"""Every record names the code that made it, and a table of runs from different code says so (issue 21)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from synthlift.core.provenance import code_version, code_version_at, package_version, short_label
from synthlift.core.results import read_results, write_results
from synthlift.report.provenance import code_label, code_versions_lines
from synthlift.report.tables import run_span, text_runs
from synthlift.run import execute

GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A git work tree with one commit: `src/pkg/module.py` tracked, `src/pkg/*.pyc` ignored."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "repo"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "module.py").write_text("LIFT = 1\n")
    (root / "README.md").write_text("readme\n")
    (root / ".gitignore").write_text("*.pyc\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_a_clean_work_tree_is_its_commit(repo):
    code = code_version_at(repo / "src" / "pkg")
    assert code == {
        "source": "git",
        "commit": git(repo, "rev-parse", "HEAD").strip(),
        "dirty": False,
        "diff_sha256": None,
        "version": package_version(),
    }
    assert re.fullmatch(r"[0-9a-f]{40}", code["commit"])
    assert short_label(code) == code["commit"][:7]


def test_an_edited_source_is_dirty_with_a_hash_of_its_changes(repo):
    source = repo / "src" / "pkg"
    (source / "module.py").write_text("LIFT = 2\n")
    first = code_version_at(source)
    assert first["dirty"] is True and re.fullmatch(r"[0-9a-f]{64}", first["diff_sha256"])
    assert first["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert short_label(first) == f"{first['commit'][:7]}+dirty({first['diff_sha256'][:8]})"
    assert code_version_at(source) == first  # the same edit, the same hash
    (source / "module.py").write_text("LIFT = 3\n")
    second = code_version_at(source)
    assert second["dirty"] is True and second["diff_sha256"] != first["diff_sha256"]
    (source / "module.py").write_text("LIFT = 1\n")  # back to the commit: clean again
    assert code_version_at(source)["dirty"] is False


def test_a_staged_edit_and_a_new_untracked_module_are_dirty_but_ignored_files_are_not(repo):
    source = repo / "src" / "pkg"
    (source / "module.pyc").write_bytes(b"\0compiled")  # ignored: not code that made a run
    assert code_version_at(source)["dirty"] is False
    (source / "module.py").write_text("LIFT = 2\n")
    git(repo, "add", "src/pkg/module.py")  # staged, not committed: still not the commit
    staged = code_version_at(source)
    assert staged["dirty"] is True
    git(repo, "commit", "-q", "-m", "second")
    assert code_version_at(source)["dirty"] is False
    (source / "new.py").write_text("X = 1\n")
    added = code_version_at(source)
    assert added["dirty"] is True and added["diff_sha256"]
    (source / "new.py").write_text("X = 2\n")  # an untracked file's content counts, not only its name
    assert code_version_at(source)["diff_sha256"] != added["diff_sha256"]


def test_only_the_source_directory_counts(repo):
    """An edited README, test or generated table outside the source does not make a run dirty."""
    (repo / "README.md").write_text("edited\n")
    (repo / "table.md").write_text("untracked\n")
    assert code_version_at(repo / "src" / "pkg")["dirty"] is False
    assert code_version_at(repo)["dirty"] is True


def test_without_git_the_package_version_is_recorded(repo, tmp_path, monkeypatch):
    untracked = tmp_path / "not_a_repo"
    untracked.mkdir()
    (untracked / "module.py").write_text("LIFT = 1\n")
    no_git = {"source": "package", "commit": None, "dirty": None, "diff_sha256": None, "version": package_version()}
    assert code_version_at(untracked) == no_git
    ignored = repo / "src" / "pkg" / "ignored.pyc"  # a package installed into an ignored folder (.venv/)
    ignored.mkdir()
    (ignored / "module.py").write_text("LIFT = 1\n")
    assert code_version_at(ignored) == no_git
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # git itself is missing
    assert code_version_at(repo / "src" / "pkg") == no_git
    assert short_label(no_git) == f"synthlift {package_version()} (no git)"


def test_labels_of_records_with_and_without_code():
    assert short_label(None) == "unknown (recorded before provenance)"
    assert code_label({"status": "ok"}) == "unknown (recorded before provenance)"
    code = {"source": "git", "commit": "3fa1b2c" + "0" * 33, "dirty": True, "diff_sha256": "ab12cd34" + "f" * 56}
    assert code_label({"code": code}) == "3fa1b2c+dirty(ab12cd34)"
    assert short_label({"source": "package", "commit": None, "version": "0.1.0"}) == "synthlift 0.1.0 (no git)"


def test_one_clean_version_is_named_and_a_mix_is_flagged():
    assert code_versions_lines(["3fa1b2c"] * 3) == ["Code version of the runs: `3fa1b2c` (3 runs)."]
    mixed = code_versions_lines(["3fa1b2c", "3fa1b2c", "9e8d7c6"])
    assert mixed[0].startswith("**Warning: these runs come from 2 different code versions")
    assert mixed[2:] == ["- `3fa1b2c`: 2 runs", "- `9e8d7c6`: 1 run"]
    dirty = code_versions_lines(["3fa1b2c+dirty(ab12cd34)"] * 2)
    assert dirty[0].startswith("**Warning:") and "not a committed version" in dirty[0]
    assert dirty[-1] == "- `3fa1b2c+dirty(ab12cd34)`: 2 runs"
    unknown = code_versions_lines(["unknown (recorded before provenance)"])
    assert unknown[0].startswith("**Warning:")
    assert code_versions_lines([]) == []


def quick_pipeline(cfg, run_dir: Path, loggers) -> dict:
    quick_pipeline.calls += 1
    metrics = {"acc_real_only": 0.5, "acc_augmented": 0.6, "lift": 0.1}
    return {"metrics": metrics, "lift_pairs": {"lift": ["acc_augmented", "acc_real_only"]}}


quick_pipeline.calls = 0


def job_config(tmp_path: Path, **extra):
    pipeline = {"_target_": f"{__name__}.quick_pipeline", "_partial_": True}
    return OmegaConf.create(
        {"name": "t", "seed": 0, "paths": {"cache_dir": str(tmp_path / "cache")}, "pipeline": pipeline, **extra}
    )


def test_every_record_ok_or_failed_holds_the_code_and_a_code_change_does_not_rerun(tmp_path, monkeypatch):
    run_dir = tmp_path / "job"
    quick_pipeline.calls = 0
    record = execute(job_config(tmp_path), run_dir, [])
    assert record["status"] == "ok" and quick_pipeline.calls == 1
    stored = read_results(run_dir / "results.json")
    assert stored["code"] == code_version() and set(stored["code"]) == {
        "source",
        "commit",
        "dirty",
        "diff_sha256",
        "version",
    }
    if stored["code"]["source"] == "git":  # the test suite runs from the repository
        assert re.fullmatch(r"[0-9a-f]{40}", stored["code"]["commit"]) and isinstance(stored["code"]["dirty"], bool)

    failed = execute(job_config(tmp_path, seed="${nope}"), tmp_path / "broken", [])
    assert failed["status"] == "failed" and failed["error"]["type"] == "ConfigError"
    assert read_results(tmp_path / "broken" / "results.json")["code"] == code_version()

    other = {"source": "git", "commit": "f" * 40, "dirty": False, "diff_sha256": None, "version": "9.9"}
    monkeypatch.setattr("synthlift.run.code_version", lambda: other)
    again = execute(job_config(tmp_path), run_dir, [])
    assert quick_pipeline.calls == 1 and again["code"] == stored["code"]  # resumed: the finished run stands
    execute(job_config(tmp_path, seed=1), tmp_path / "new", [])
    assert read_results(tmp_path / "new" / "results.json")["code"] == other


def test_the_runs_table_has_each_runs_code(tmp_path):
    clean = {"source": "git", "commit": "3fa1b2c" + "0" * 33, "dirty": False, "diff_sha256": None}
    times = {"started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:01:00+00:00"}
    times["metrics"] = {"acc_real_only": 0.7, "acc_augmented": 0.72}
    write_results(tmp_path / "sweep" / "a", {"status": "ok", "seed": 0, "code": clean, **times})
    write_results(tmp_path / "sweep" / "b", {"status": "ok", "seed": 1, **times})  # before provenance
    runs, failures = text_runs([tmp_path / "sweep"], lambda record: {})
    assert failures == [] and list(runs["code"]) == ["3fa1b2c", "unknown (recorded before provenance)"]
    assert code_versions_lines(runs["code"])[0].startswith("**Warning: these runs come from 2 different")


def test_a_tables_wall_time_leaves_out_the_pauses_between_sittings():
    """Two jobs at a time for 30 min, a sweep stopped for 2 h, then 20 more min: 50 min of wall time, and the
    pause said; a sweep that never paused reads as before."""
    at = pd.Timestamp("2026-12-07 10:00")

    def runs(*spans):
        return pd.DataFrame(
            [(at + pd.Timedelta(minutes=a), at + pd.Timedelta(minutes=b)) for a, b in spans],
            columns=["started", "finished"],
        )

    sittings = runs((0, 20), (1, 30), (20, 29), (150, 160), (151, 170))
    assert run_span(sittings, ", 2 jobs at a time") == (
        "the first run started 2026-12-07 10:00 and the last finished 2026-12-07 12:50 UTC "
        "(50 min wall, 2 jobs at a time, not counting 1 pause(s) of 120 min with no run going between sittings)"
    )
    short_gaps = runs((0, 20), (25, 30))  # a gap under PAUSE is the sweep's own start-up, not a pause
    assert run_span(short_gaps).endswith("UTC (30 min wall)")
