"""The documentation states only numbers the generated tables hold, and its links lead somewhere.

Numbers rule: a page that states numbers takes them from the generated tables (experiments/*.md, written
by `make tables` from the runs' results.json files). README.md and docs/results.md quote lifts such as
`+1.12 [+0.07, +2.16]` or `−0.88 [−2.56, +0.81]`: each must appear in one of those tables, after the
minus sign is normalised (the tables write '-', prose may write '−') and an optional "points" between the
lift and its CI is dropped. A signed number quoted without its CI (`(+1.34)`, `Spearman +0.23`) must
appear in a table too. And every relative markdown link in README.md and docs/*.md points to an existing
file (and, for a `#fragment` into a markdown page, to one of its headings).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLES = [  # every generated table of lifts: experiments/*.md and the reports kept in its folders
    path
    for path in sorted((ROOT / "experiments").rglob("*.md"))
    # the simulation's table holds rates and the tuning's validation values (tuning.md), not test lifts
    if path.name not in ("README.md", "verdict_simulation.md", "tuning.md")
]
PAGES_WITH_NUMBERS = [ROOT / "README.md", ROOT / "docs" / "results.md"]
PAGES_WITH_LINKS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

MINUS = "−"  # U+2212, as prose writes it
NUMBER = r"[+\-−]\d+(?:\.\d+)?"
# A lift with its CI: `+1.42 [+0.27, +2.58]`, `+1.42 points [+0.27, +2.58]`, possibly across a line break.
FIGURE = re.compile(rf"(?<![\w.])({NUMBER})\s+(?:points\s+)?\[\s*({NUMBER}),\s+({NUMBER})\s*\]")
# A signed number on its own (not a date's `-12`, an exponent's `e-3` or part of a longer number).
SIGNED = re.compile(rf"(?<![\w.+\-−])({NUMBER})(?!\d)")
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def normalise(number: str) -> str:
    return number.replace(MINUS, "-")


def figures(text: str) -> list[str]:
    """Every lift-with-CI in `text`, as `+a [+b, +c]` with ASCII minus signs."""
    return [f"{normalise(a)} [{normalise(b)}, {normalise(c)}]" for a, b, c in FIGURE.findall(text)]


def bare_signed_numbers(text: str) -> list[str]:
    """Signed numbers of `text` outside its lift-with-CI figures and code."""
    prose = FIGURE.sub(" ", INLINE_CODE.sub(" ", FENCE.sub(" ", text)))
    return [normalise(n) for n in SIGNED.findall(prose)]


def table_text() -> str:
    return normalise("\n".join(path.read_text(encoding="utf-8") for path in TABLES))


def github_slugs(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings (duplicates get -1, -2, ...)."""
    slugs: set[str] = set()
    for title in HEADING.findall(FENCE.sub("", markdown)):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link in a heading keeps its text
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in slugs:
            n += 1
            candidate = f"{slug}-{n}"
        slugs.add(candidate)
    return slugs


def relative_links(page: Path) -> list[str]:
    text = INLINE_CODE.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.\-]*:", t, re.IGNORECASE)]


def test_the_generated_tables_exist_and_hold_figures():
    for path in TABLES:
        assert path.is_file(), f"{path.relative_to(ROOT)} is missing: `make tables` writes it"
        assert figures(path.read_text(encoding="utf-8")), f"no lift figure found in {path.relative_to(ROOT)}"


def test_the_figure_pattern_reads_both_minus_signs_and_line_breaks():
    text = "by +1.12 points [+0.07, +2.16] and −0.88\n[−2.56, +0.81], on 2026-12-04 at lr 1e-3 (+1.34)"
    assert figures(text) == ["+1.12 [+0.07, +2.16]", "-0.88 [-2.56, +0.81]"]
    assert bare_signed_numbers(text) == ["+1.34"]


@pytest.mark.parametrize("page", PAGES_WITH_NUMBERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_lift_with_its_ci_is_copied_from_a_generated_table(page: Path):
    quoted = figures(page.read_text(encoding="utf-8"))
    assert quoted, f"{page.relative_to(ROOT)} quotes no lift: has the figure pattern stopped matching?"
    in_tables = set(figures(table_text()))
    missing = [figure for figure in quoted if figure not in in_tables]
    assert not missing, (
        f"{page.relative_to(ROOT)} quotes lifts no generated table (experiments/*.md) holds: {missing}; "
        "copy them from the table, or cite the table instead of a number"
    )


@pytest.mark.parametrize("page", PAGES_WITH_NUMBERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_signed_number_is_copied_from_a_generated_table(page: Path):
    tables = table_text()
    missing = [
        number
        for number in bare_signed_numbers(page.read_text(encoding="utf-8"))
        if not re.search(rf"(?<![\w.]){re.escape(number)}(?!\d)", tables)
    ]
    assert not missing, (
        f"{page.relative_to(ROOT)} states signed numbers no generated table (experiments/*.md) holds: {missing}"
    )


@pytest.mark.parametrize("page", PAGES_WITH_LINKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file(page: Path):
    broken = []
    for target in relative_links(page):
        path_part, _, fragment = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and path.suffix == ".md" and fragment not in github_slugs(path.read_text(encoding="utf-8")):
            broken.append(f"{target} (no heading #{fragment} in {path.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)} has broken links: {broken}"


def test_the_readme_leads_to_every_docs_page():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(ROOT / "README.md")}
    unlinked = [p.name for p in PAGES_WITH_LINKS[1:] if p.resolve() not in linked]
    assert not unlinked, f"README.md does not link to docs pages: {unlinked}"
