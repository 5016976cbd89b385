"""The "improved X of N" scoreboard: its records, its JSON and CSV files, and its terminal table.

Computing it is `traitrl.evals.compare`; this module only holds and shows the result, so a
report can rebuild the table from `compare.json` without the results files.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.table import Table

from traitrl.atomic import write_text

SCOREBOARD_SCHEMA_VERSION = 2

Verdict = Literal["improved", "regressed", "no_change"]
Pairing = Literal["paired", "unpaired"]
CICovers = Literal["items", "seeds+items"]

_COLOURS: dict[str, str] = {"improved": "green", "regressed": "red", "no_change": "dim"}
_GROUP_NAMES = {"held_out": "held-out evals", "shared": "shared with RL (in-distribution check)",
                "all": "evals", "untagged": "untagged evals"}


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeltaEstimate(_Record):
    """A delta between two evaluations of one eval, oriented so positive = better.

    Fields after `note` were added in schema 2; their defaults describe a schema-1 row (one
    seed per arm, item bootstrap, bootstrap p-value only).
    """

    delta: float = Field(description="treatment - baseline, sign flipped when lower is better")
    ci: tuple[float, float] = Field(description="percentile cluster-bootstrap CI of `delta`")
    p_value: float = Field(description="two-sided p of delta = 0: max(p_bootstrap, p_permutation)")
    pairing: Pairing = Field(description="paired by item_id, or unpaired when item sets differ")
    n_baseline: int = Field(description="scored baseline items used")
    n_treatment: int = Field(description="scored treatment items used")
    baseline: float = Field(description="baseline mean over the items used (metric's own sign)")
    treatment: float = Field(description="treatment mean over the items used (metric's own sign)")
    note: str = Field(default="", description="why items were dropped or pairing was not exact")
    p_bootstrap: float | None = Field(default=None, description="two-sided bootstrap p-value")
    p_permutation: float | None = Field(
        default=None, description="sign-flip (paired) or relabelling (unpaired) p over clusters"
    )
    permutation: Literal["exact", "monte_carlo"] | None = None
    n_clusters: int | None = Field(default=None, description="prompt clusters resampled")
    n_seeds_baseline: int = 1
    n_seeds_treatment: int = 1
    ci_covers: CICovers = Field(
        default="items",
        description="seeds+items: seeds and clusters resampled; items: one seed on a side, so "
        "the CI says nothing about training variance",
    )

    def significant_at(self, alpha: float) -> bool:
        """p <= alpha and the CI excludes 0 (the two agree except near the boundary)."""
        return self.p_value <= alpha and (self.ci[0] > 0 or self.ci[1] < 0)


class EvalComparison(DeltaEstimate):
    """One scoreboard row: the eval, its delta, and the verdicts."""

    id: str
    family: str
    domains: list[str]
    source: Literal["eval", "benchmark"]
    metric: str
    higher_is_better: bool
    health: bool
    informative: bool | None = Field(
        description="schema 1 only: False kept the row out of the counts; schema 2 writes None "
        "(nothing is gated) and keeps the persona spread in `persona_sensitive`"
    )
    verdict: Verdict = Field(description="uncorrected: improved when p <= alpha and CI above 0")
    verdict_holm: Verdict | None = Field(
        description="Holm-corrected over every counted eval; None for uncounted ones"
    )
    verdict_bh: Verdict | None = Field(
        default=None, description="Benjamini-Hochberg over every counted eval"
    )
    rl_relation: str | None = Field(default=None, description="held_out, shared, or None (untagged)")
    group: str = Field(default="all", description="the scoreboard group: held_out, shared, all, untagged")
    persona_sensitive: bool | None = Field(
        default=None,
        description="annotation: careful vs harmful personas moved the base organism here "
        "(never gates the counts)",
    )

    @property
    def counted(self) -> bool:
        """Whether the row enters the X-of-N counts (every schema-2 row does)."""
        return self.informative is not False


class NotCompared(_Record):
    id: str
    reason: str


class Tally(_Record):
    improved: int = 0
    regressed: int = 0
    no_change: int = 0
    n: int = 0


class Counts(Tally):
    """Counts from the per-eval tests, and the same under Holm's and BH's corrections."""

    holm: Tally = Field(default_factory=Tally)
    bh: Tally = Field(default_factory=Tally)


class Scoreboard(Counts):
    """Treatment vs baseline over every eval both sides share.

    The top-level counts are the headline group's (`headline_group`: the held-out evals when
    evals are tagged by their relation to RL, else all of them); `groups` has every group and
    `overall` all compared evals. Every eval with a scored item in both arms is compared and
    counted; `not_compared` lists the others and why. Holm and BH correct over all compared
    evals together. `uninformative` is always empty since schema 2 (schema-1 files kept evals
    there that a persona-sensitivity gate excluded).
    """

    schema_version: int = SCOREBOARD_SCHEMA_VERSION
    baseline: str
    treatment: str
    alpha: float
    n_boot: int
    seed: int
    n_perm: int | None = None
    n_seeds_baseline: int = 1
    n_seeds_treatment: int = 1
    seed_pairing: Literal["unpaired"] = Field(
        default="unpaired",
        description="seeds of the two arms are resampled independently (the arms are trained on "
        "different data, so equal seed numbers share no random effect)",
    )
    ci_covers: CICovers = "items"
    cluster_key: str = Field(default="item_id", description="how items were grouped into clusters")
    headline_group: str = "all"
    groups: dict[str, Counts] = Field(default_factory=dict)
    overall: Counts | None = None
    health: Counts
    non_health: Counts
    evals: list[EvalComparison]
    uninformative: list[EvalComparison] = Field(default_factory=list)
    not_compared: list[NotCompared] = Field(default_factory=list)

    def headline(self) -> str:
        """"improved X of N held-out evals (Holm: .., BH: ..), regressed R (...)", with the
        shared-with-RL group after it when there is one."""
        text = _sentence(self, self.headline_group)
        for name, c in self.groups.items():
            if name != self.headline_group:
                text += f"; {_GROUP_NAMES.get(name, name)}: " + _sentence(c, None)
        return text

    def rows(self) -> list[EvalComparison]:
        return [*self.evals, *self.uninformative]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows():
            writer.writerow(_csv_row(row))
        return buf.getvalue()

    def write_json(self, path: str | os.PathLike[str]) -> None:
        write_text(path, self.to_json())

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        write_text(path, self.to_csv())


def _sentence(c: Counts, group: str | None) -> str:
    label = "" if group in (None, "all") else " " + _GROUP_NAMES.get(group, group).split(" (")[0]
    return (
        f"improved {c.improved} of {c.n}{label} (Holm: {c.holm.improved}, BH: {c.bh.improved}), "
        f"regressed {c.regressed} (Holm: {c.holm.regressed}, BH: {c.bh.regressed})"
    )


def tally(rows: list[EvalComparison]) -> Counts:
    def count(verdicts: list[Verdict | None]) -> Tally:
        return Tally(
            improved=verdicts.count("improved"),
            regressed=verdicts.count("regressed"),
            no_change=verdicts.count("no_change"),
            n=len(verdicts),
        )

    return Counts(
        **count([r.verdict for r in rows]).model_dump(),
        holm=count([r.verdict_holm for r in rows]),
        bh=count([r.verdict_bh for r in rows]),
    )


# ---- CSV: one row per eval, flat columns, readable back into EvalComparison ----

CSV_COLUMNS = [
    "id", "family", "domains", "source", "metric", "higher_is_better", "health", "informative",
    "counted", "baseline", "treatment", "delta", "ci_lo", "ci_hi", "p_value", "verdict",
    "verdict_holm", "pairing", "n_baseline", "n_treatment", "note",
    # schema 2
    "verdict_bh", "rl_relation", "group", "p_bootstrap", "p_permutation", "permutation",
    "n_clusters", "n_seeds_baseline", "n_seeds_treatment", "ci_covers", "persona_sensitive",
]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)  # repr: floats read back exactly


def _csv_row(row: EvalComparison) -> dict[str, str]:
    d = row.model_dump()
    d["domains"] = ";".join(row.domains)
    d["ci_lo"], d["ci_hi"] = row.ci
    d["counted"] = row.counted
    return {k: _cell(d[k]) for k in CSV_COLUMNS}


def read_scoreboard_csv(path: str | os.PathLike[str]) -> list[EvalComparison]:
    """Read the rows of a `compare.csv` back (for reports and the round-trip test)."""
    out = []
    with Path(path).open(encoding="utf-8", newline="") as f:
        for rec in csv.DictReader(f):
            d: dict[str, Any] = {k: (v if v != "" else None) for k, v in rec.items()}
            d["domains"] = rec["domains"].split(";") if rec["domains"] else []
            d["ci"] = (float(rec["ci_lo"]), float(rec["ci_hi"]))
            d["note"] = rec["note"]
            for k in ("ci_lo", "ci_hi", "counted"):
                d.pop(k)
            out.append(EvalComparison.model_validate(d))
    return out


# ---- terminal ----


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def ci_covers_line(sb: Scoreboard) -> str:
    """What the intervals include, in words (printed under every scoreboard)."""
    seeds = f"{sb.n_seeds_baseline} baseline and {sb.n_seeds_treatment} treatment RL seed(s)"
    if sb.ci_covers == "seeds+items":
        return (f"CIs cover training and item variance: {seeds}, resampled unpaired, and prompt "
                f"clusters within them (cluster key: {sb.cluster_key})")
    return (f"CIs cover item variance only ({seeds}: training variance is not measured); "
            f"prompt clusters resampled (cluster key: {sb.cluster_key})")


def render_scoreboard(scoreboard: Scoreboard, console: Console) -> None:
    """Print the per-eval table, the headline and its groups, and what the CIs cover."""
    sb = scoreboard
    table = Table(title=f"{sb.treatment}  vs  {sb.baseline}", title_justify="left")
    for name, justify in [("eval", "left"), ("group", "left"), ("baseline", "right"),
                          ("treatment", "right"), ("delta [95% CI]", "right"), ("p", "right"),
                          ("verdict", "left"), ("Holm", "left"), ("BH", "left")]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in sb.rows():
        counted = row.counted
        colour = _COLOURS[row.verdict]
        holm, bh = row.verdict_holm or "-", row.verdict_bh or "-"
        table.add_row(
            row.id + ("" if counted else " (uninformative)")
            + (" (personas flat)" if row.persona_sensitive is False else ""),
            row.group,
            _fmt(row.baseline),
            _fmt(row.treatment),
            f"{row.delta:+.3f} [{row.ci[0]:+.3f}, {row.ci[1]:+.3f}]",
            f"{row.p_value:.4f}",
            f"[{colour}]{row.verdict}[/{colour}]",
            f"[{_COLOURS.get(holm, 'dim')}]{holm}[/]",
            f"[{_COLOURS.get(bh, 'dim')}]{bh}[/]",
            style=None if counted else "dim",
        )
    console.print(table)
    console.print(f"[bold]{sb.headline()}[/bold]")
    if sb.headline_group == "all":
        console.print("  evals are not tagged by their relation to RL: one group, all evals")
    for name, c in [("health", sb.health), ("non-health", sb.non_health)]:
        console.print(f"  {name}: {_sentence(c, None)}")
    regressed = [r for r in sb.evals if "regressed" in (r.verdict, r.verdict_holm, r.verdict_bh)]
    if regressed:
        console.print("  regressions: " + ", ".join(
            f"{r.id} ({r.delta:+.3f}, p = {r.p_value:.4f}, Holm: {r.verdict_holm}, BH: {r.verdict_bh})"
            for r in regressed))
    console.print(f"  {ci_covers_line(sb)}")
    console.print(f"  Holm and BH correct over all {sb.overall.n if sb.overall else sb.n} "
                  f"compared evals at alpha = {sb.alpha}")
    if any(r.persona_sensitive is False for r in sb.evals):
        console.print("  (personas flat): careful and harmful personas did not move the base "
                      "organism here; an annotation, the eval is counted")
    if sb.uninformative:
        ids = ", ".join(r.id for r in sb.uninformative)
        console.print(f"  not counted, uninformative for this model: {ids}")
    for nc in sb.not_compared:
        console.print(f"  not compared (not counted): {nc.id}: {nc.reason}")
