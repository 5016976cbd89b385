"""The run's numbers as CSV files beside the report, for spreadsheets and pandas.

One row per observation, flat columns, CIs split into `ci_lo` / `ci_hi`, so every number in the
report can be checked without parsing HTML or JSON.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from traitrl.atomic import write_text
from traitrl.report.schema import COMPARISONS, RunResults, ValueCI

# Every CSV name this module may write: a rebuild removes the ones it no longer has data for.
# (SCOREBOARD_CSVS follows the compared pairs; see `schema.COMPARISONS` for where they will come from.)
FIXED_CSVS = ("evals.csv", "arms.csv", "training_curves.csv", "prompting.csv", "finetuning.csv")
SCOREBOARD_CSVS = tuple(f"scoreboard_{key}.csv" for key, _ in COMPARISONS)


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else v  # repr: floats read back exactly


def _csv(header: list[str], rows: list[list[Any]]) -> str | None:
    if not rows:
        return None
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([[_cell(x) for x in r] for r in rows])
    return buf.getvalue()


def _vci(x: ValueCI | None) -> list[Any]:
    if x is None:
        return [None, None, None, None]
    lo, hi = x.ci if x.ci else (None, None)
    return [x.value, lo, hi, x.n]


def evals_csv(res: RunResults) -> str | None:
    models = list(dict.fromkeys(m for e in res.evals for m in e.scores))
    header = ["id", "family", "domains", "format", "metric", "higher_is_better", "n"]
    header += [f"{m}_{col}" for m in models for col in ("value", "ci_lo", "ci_hi")]
    rows = []
    for e in res.evals:
        row = [e.id, e.family, ";".join(e.domains), e.format, e.metric, e.higher_is_better, e.n]
        for m in models:
            row += _vci(e.scores.get(m))[:3]
        rows.append(row)
    return _csv(header, rows)


def arms_csv(res: RunResults) -> str | None:
    """One row per entry of `arms` (key as in results.json; arm and seed as recorded, else the
    key and empty)."""
    rewards = list(dict.fromkeys(k for a in res.arms.values() for k in a.final_rewards))
    header = ["key", "arm", "seed", "generated_tokens", "optimizer_steps", "trait_fraction",
              "trait_domains", "wall_s", *(f"final_reward_{k}" for k in rewards)]
    rows = [[key, a.arm or key, a.seed, a.generated_tokens, a.optimizer_steps, a.trait_fraction,
             None if a.trait_domains is None else ";".join(a.trait_domains), a.wall_s,
             *(a.final_rewards.get(k) for k in rewards)] for key, a in res.arms.items()]
    return _csv(header, rows)


def curves_csv(res: RunResults) -> str | None:
    header = ["arm", "step", "in_distribution_trait_score", "id_ci_lo", "id_ci_hi",
              "out_of_distribution_score", "ood_ci_lo", "ood_ci_hi"]
    rows = []
    for arm, c in res.training_curves.items():
        for k, step in enumerate(c.steps):
            id_ci = (c.in_distribution_ci or [None] * len(c.steps))[k] or (None, None)
            ood_ci = (c.out_of_distribution_ci or [None] * len(c.steps))[k] or (None, None)
            rows.append([arm, step, c.in_distribution_trait_score[k], *id_ci,
                         c.out_of_distribution_score[k], *ood_ci])
    return _csv(header, rows)


def prompting_csv(res: RunResults) -> str | None:
    rows = []
    for m, s in (res.persistence.prompting or {}).items():
        for cond, x in s:
            if x is not None:
                rows.append([m, cond, *_vci(x)])
    return _csv(["model", "condition", "value", "ci_lo", "ci_hi", "n"], rows)


def finetuning_csv(res: RunResults) -> str | None:
    ft = res.persistence.finetuning
    if ft is None:
        return None
    rows = []
    for m, c in ft.models.items():
        for part in ("health", "non_health"):
            for dose, x in zip(ft.doses, getattr(c, part), strict=True):
                rows.append([m, part, dose, *_vci(x)])
    return _csv(["model", "split", "dose", "value", "ci_lo", "ci_hi", "n"], rows)


def write_tables(res: RunResults, run_dir: Path) -> list[Path]:
    """Write every CSV the run has data for; delete stale ones from an earlier, fuller build."""
    texts: dict[str, str | None] = {
        "evals.csv": evals_csv(res),
        "arms.csv": arms_csv(res),
        "training_curves.csv": curves_csv(res),
        "prompting.csv": prompting_csv(res),
        "finetuning.csv": finetuning_csv(res),
    }
    for key, _ in COMPARISONS:
        sb = getattr(res.scoreboard, key)
        texts[f"scoreboard_{key}.csv"] = None if sb is None else sb.to_csv()
    written = []
    for name, text in texts.items():
        path = run_dir / name
        if text is None:
            path.unlink(missing_ok=True)
        else:
            write_text(path, text)
            written.append(path)
    return written
