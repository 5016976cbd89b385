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

SCOREBOARD_SCHEMA_VERSION = 1

Verdict = Literal["improved", "regressed", "no_change"]
Pairing = Literal["paired", "unpaired"]

_COLOURS: dict[str, str] = {"improved": "green", "regressed": "red", "no_change": "dim"}


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeltaEstimate(_Record):
    """A bootstrap delta between two evaluations of one eval, oriented so positive = better."""

    delta: float = Field(description="treatment - baseline, sign flipped when lower is better")
    ci: tuple[float, float] = Field(description="percentile bootstrap CI of `delta`")
    p_value: float = Field(description="two-sided bootstrap p-value of delta = 0")
    pairing: Pairing = Field(description="paired by item_id, or unpaired when item sets differ")
    n_baseline: int = Field(description="scored baseline items used")
    n_treatment: int = Field(description="scored treatment items used")
    baseline: float = Field(description="baseline mean over the items used (metric's own sign)")
    treatment: float = Field(description="treatment mean over the items used (metric's own sign)")
    note: str = Field(default="", description="why items were dropped or pairing was not exact")

    @property
    def significant(self) -> bool:
        return self.ci[0] > 0 or self.ci[1] < 0


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
        description="False if either model's sensitivity check found no signal on this eval"
    )
    verdict: Verdict = Field(description="from the CI alone: improved when it lies above 0")
    verdict_holm: Verdict | None = Field(
        description="Holm-corrected over the counted evals; None for uninformative ones"
    )

    @property
    def counted(self) -> bool:
        """Whether the row enters the X-of-N counts (uninformative evals do not)."""
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
    """Counts from the per-eval CIs, and the same under Holm's correction."""

    holm: Tally = Field(default_factory=Tally)


class Scoreboard(Counts):
    """Treatment vs baseline over every eval both files share.

    The top-level counts cover `evals` only; `uninformative` rows are listed with their deltas
    but not counted (no signal is not no effect); `not_compared` says why an eval is missing.
    """

    schema_version: int = SCOREBOARD_SCHEMA_VERSION
    baseline: str
    treatment: str
    alpha: float
    n_boot: int
    seed: int
    health: Counts
    non_health: Counts
    evals: list[EvalComparison]
    uninformative: list[EvalComparison] = Field(default_factory=list)
    not_compared: list[NotCompared] = Field(default_factory=list)

    def headline(self) -> str:
        return (
            f"improved {self.improved} of {self.n} "
            f"(Holm: {self.holm.improved} of {self.n}), regressed {self.regressed}"
        )

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
    )


# ---- CSV: one row per eval, flat columns, readable back into EvalComparison ----

CSV_COLUMNS = [
    "id", "family", "domains", "source", "metric", "higher_is_better", "health", "informative",
    "counted", "baseline", "treatment", "delta", "ci_lo", "ci_hi", "p_value", "verdict",
    "verdict_holm", "pairing", "n_baseline", "n_treatment", "note",
]  # fmt: skip


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


def render_scoreboard(scoreboard: Scoreboard, console: Console) -> None:
    """Print the per-eval table and the headline ("improved X of N (Holm: Y of N), ...")."""
    sb = scoreboard
    table = Table(title=f"{sb.treatment}  vs  {sb.baseline}", title_justify="left")
    for name, justify in [("eval", "left"), ("family", "left"), ("baseline", "right"),
                          ("treatment", "right"), ("delta [95% CI]", "right"), ("p", "right"),
                          ("verdict", "left"), ("Holm", "left")]:  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in sb.rows():
        counted = row.counted
        colour = _COLOURS[row.verdict]
        holm = row.verdict_holm or "-"
        table.add_row(
            row.id + ("" if counted else " (uninformative)"),
            row.family,
            _fmt(row.baseline),
            _fmt(row.treatment),
            f"{row.delta:+.3f} [{row.ci[0]:+.3f}, {row.ci[1]:+.3f}]",
            f"{row.p_value:.4f}",
            f"[{colour}]{row.verdict}[/{colour}]",
            f"[{_COLOURS.get(holm, 'dim')}]{holm}[/]",
            style=None if counted else "dim",
        )
    console.print(table)
    console.print(f"[bold]{sb.headline()}[/bold]")
    for name, c in [("health", sb.health), ("non-health", sb.non_health)]:
        console.print(
            f"  {name}: improved {c.improved} of {c.n} (Holm: {c.holm.improved}), "
            f"regressed {c.regressed}"
        )
    if sb.uninformative:
        ids = ", ".join(r.id for r in sb.uninformative)
        console.print(f"  not counted, uninformative for this model: {ids}")
    for nc in sb.not_compared:
        console.print(f"  not compared: {nc.id}: {nc.reason}")
