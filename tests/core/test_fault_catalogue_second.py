"""The second fault catalogue: inputs that used to end in a wrong answer, or no record, without a word.

The first catalogue (`test_fault_catalogue.py`) holds inputs that must be refused as bad. These are the
defect classes a hostile user found after it: a lift "measured" with no synthetic example at all, a test set
that shares texts with the training set through a combination of datasets, an experiment whose overrides
break the generators it does not name. Each row runs one job in-process, as the first catalogue does, and
holds it to the same rules: a failed `results.json` whose message names the key, file or row and says what
to change, and nothing else left in the job's folder.
"""

from __future__ import annotations

import re

import pytest

from synthlift.core.results import JOB_LOCK, RESULTS_FILE
from tests.core.test_fault_catalogue import Fault, csv, run_job, write_files
from tests.core.test_run_records import strict_json

# --- 1. A lift measured on nothing: the strategy ends up with no synthetic example ------------------------------

NO_SYNTHETIC_FAULTS = [
    Fault(
        "filter-that-nothing-passes",
        "text",
        ("augment=filter", "augment.passes=confident", "augment.min_confidence=1.0", "augment.max_rounds=1"),
        r"augment=filter used no synthetic example .*none of \d+ candidates .*lower augment\.min_confidence",
    ),
    Fault(
        "rebalance-on-balanced-data",
        "text",
        ("augment=rebalance",),
        r"augment=rebalance used no synthetic example .*class counts \[12, 12\].*use augment=mix",
    ),
    Fault(
        "ratio-that-rounds-to-no-example",
        "text",
        ("augment.ratio=0.001",),
        r"augment=mix used no synthetic example for 24 real ones.*augment\.ratio=0\.001 x 24 .*rounds to 0",
    ),
    Fault(
        "filter-with-a-ratio-that-rounds-to-no-example",
        "text",
        ("augment=filter", "augment.ratio=0.01"),
        r"augment=filter used no synthetic example for 24 real ones.*augment\.ratio=0\.01 x 24 .*rounds to 0",
    ),
    Fault(
        "image-ratio-that-rounds-to-no-example",
        "image",
        ("augment.ratio=0.01",),
        r"augment=mix used no synthetic example for 4 real ones.*raise augment\.ratio",
    ),
]

# --- 2. Leakage through a dataset combination: a domain-shift target that holds the source's texts -------------


def reviews(count: int, shout: bool = False) -> bytes:
    """`count` distinct two-class reviews; `shout` writes the same texts in capitals and with doubled spaces,
    which is still the same text to a model (and to the leakage check), in reverse order (in the same order,
    the same split_seed would hold out the same texts in both tables, and nothing would leak)."""
    rows = []
    for i in reversed(range(count)) if shout else range(count):
        text = f"review number {i} says the product is {'fine' if i % 2 else 'poor'}"
        rows.append(f"{'  '.join(text.upper().split()) if shout else text},{i % 2}")
    return csv("text,label", *rows)


SHIFT = ("dataset=text/books_to_kitchen", "dataset.source.source={data}/books.csv")
LEAKAGE_FAULTS = [
    Fault(
        "target-is-the-source-with-another-split-seed",
        "text",
        (*SHIFT, "dataset.target.source={data}/books.csv", "dataset.target.split_seed=7"),
        r"dataset\.target=\S*books\.csv' is invalid: expected a table other than the source's: .*in-domain",
        {"books.csv": reviews(200)},
    ),
    Fault(
        "target-holding-the-source-texts-in-other-case",
        "text",
        (*SHIFT, "dataset.target.source={data}/kitchen.csv"),
        r"the split would leak: train \(amazon_books\) and test \(amazon_kitchen\) share \d+, e\.g\. 'review number",
        {"books.csv": reviews(200), "kitchen.csv": reviews(200, shout=True)},
    ),
]

# Also in this catalogue's class, tested where the mechanism lives: an experiment's overrides that break a
# generator it does not name (tests/core/test_configs.py), Ctrl-C and SIGTERM (test_kill_resume.py), sizes that
# cannot fit (test_resource_limits.py), an Optuna objective no job records (test_optuna_sweeper.py).

# --- 3. Found by the random-configuration invariants (tests/core/test_invariants.py) -------------------------------

RANDOM_DRAW_FAULTS = [
    Fault(  # was "gan: cannot build the component: not all arguments converted during string formatting"
        "batch-size-not-a-number",
        "text",
        ("gan.batch_size=abc",),
        r"gan\.batch_size='abc' is invalid: expected an integer > 0",
    ),
    Fault(  # was "embedder: cannot build the component: int() argument must be ... not 'NoneType'"
        "tfidf-components-null",
        "text",
        ("embedder.n_components=null",),
        r"embedder\.n_components=None is invalid: expected an integer > 0",
    ),
    Fault(  # was "TfidfSvdEmbedder needs at least 2 distinct terms in the training texts, got 1", naming no key
        "tfidf-of-one-term",
        "text",
        ("embedder.max_features=1",),
        r"embedder\.max_features=1 is invalid: expected an integer >= 2",
    ),
]

CATALOGUE = NO_SYNTHETIC_FAULTS + LEAKAGE_FAULTS + RANDOM_DRAW_FAULTS


@pytest.mark.parametrize("fault", CATALOGUE, ids=lambda fault: fault.id)
def test_a_silent_garbage_input_now_fails_saying_why_and_leaves_only_its_record(
    fault, tmp_path, shared_cache_dir, compose_config
):
    data, run_dir = tmp_path / "data", tmp_path / "job"
    write_files(data, fault.files)

    record = run_job(fault, data, run_dir, shared_cache_dir, compose_config)

    assert record["status"] == "failed" and "metrics" not in record, record
    assert record["error"]["type"] in ("ConfigError", "DataError", "DegenerateResultError"), record["error"]
    assert "traceback" not in record["error"], record["error"]
    assert re.search(fault.message, record["error"]["message"]), record["error"]["message"]
    left = {path.name for path in run_dir.iterdir() if not path.name.startswith("unfinished-")}
    assert left <= {RESULTS_FILE, JOB_LOCK}, f"partial artefacts left beside the record: {left}"
    assert strict_json(run_dir / RESULTS_FILE) == record
