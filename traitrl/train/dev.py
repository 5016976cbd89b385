"""The in-distribution trait score: fresh dev.jsonl items from the training distribution, answered
by the policy with the eval suite's sampling settings (fixed seed) and scored by the world grader,
or, for verifier rows (an imported GSM8K or MATH dev split), by the row's verifier, or, on a given
policy with a judge, for judge-graded rows (LLM-written trait scenarios), by the LLM judge against
the row's rubric: the grader the trait arm trains with.

Training curves plot this against the out-of-distribution evals, so it uses the same generation
helper and the same grader object as they do. Scores are means over scored rows in [0, 1]; the
unscored share is reported beside them, never folded in as zeros.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from traitrl import taxonomy
from traitrl.config import SamplingConfig
from traitrl.evals.answers import answer_and_grade
from traitrl.graders.registry import CHOICE, LLM_JUDGE, NUMERIC, REGEX, GraderBackends
from traitrl.graders.world import WorldGrader
from traitrl.models.loader import Policy
from traitrl.scenarios.record import Scenario

WORLD_GRADED = ("world", "capability")
VERIFIED = (NUMERIC, CHOICE, REGEX)  # scored from the row's `world` record, without a judge


class _RowGrader:
    """`grade(response, scenario)`: the world grader on the row's rubric, or the row's verifier on its answer."""

    def __init__(self, world: WorldGrader) -> None:
        from traitrl.graders.registry import GRADERS

        self.world = world
        backends = GraderBackends(world=world)
        self.verifiers = {name: GRADERS[name].build(backends) for name in VERIFIED}

    def grade(self, response: str, row: Scenario):
        if row.grader in self.verifiers:
            return self.verifiers[row.grader].grade(response, row.world)
        return self.world.grade(response, row.rubric)


def dev_subset(rows: list[Scenario], per_kind: int, judged: bool = False) -> list[Scenario]:
    """Rows scored without a judge (world grader or verifier), and with `judged` the judge's rows too;
    with `per_kind` > 0, that many trait and capability rows each, spread evenly over the file (which
    is ordered by cell), so every cell keeps its share."""
    rows = [s for s in rows if s.grader in WORLD_GRADED + VERIFIED + ((LLM_JUDGE,) if judged else ())]
    if per_kind <= 0:
        return rows
    out: list[Scenario] = []
    for part in ([s for s in rows if taxonomy.is_trait(s.trait)], [s for s in rows if taxonomy.is_capability(s.trait)]):
        n = min(per_kind, len(part))
        out.extend(part[i * len(part) // n] for i in range(n))
    return out


def score_dev(model: Any, tokenizer: Any, rows: list[Scenario], grader: WorldGrader,
              sampling: SamplingConfig, judge: Any = None) -> dict[str, Any]:
    """Generate a reply to every row and grade it: trait score, capability reward, per-trait and
    per-task means, unscored shares and counts. Judge-graded rows need `judge` (an `LLMJudge`)."""
    judged = [i for i, s in enumerate(rows) if s.grader == LLM_JUDGE]
    if judged and judge is None:
        raise ValueError(f"{len(judged)} dev rows are graded by {LLM_JUDGE} and no judge was given")
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        # one generation call over all rows (chunk=None): the seeded sampling every curve was made with;
        # judge rows are answered here and judged below, in one batch
        answers = answer_and_grade(Policy(model, tokenizer, sampling),
                                   [(s.prompt(), None if s.grader == LLM_JUDGE else s) for s in rows],
                                   _RowGrader(grader), chunk=None)
    finally:
        if was_training:
            model.train()
    if judged:
        from traitrl.graders.judge import RubricTask

        grades = judge.grade_batch_sync([RubricTask.from_scenario(rows[i], answers[i].response) for i in judged])
        for i, g in zip(judged, grades, strict=True):
            answers[i] = replace(answers[i], grade=g)
    values: dict[str, list[float]] = defaultdict(list)
    unscored: dict[str, int] = defaultdict(int)
    rows_of: dict[str, int] = defaultdict(int)
    for s, answer in zip(rows, answers, strict=True):
        kind = "capability" if taxonomy.is_capability(s.trait) else "trait"
        value = answer.value
        for group in (kind, f"{kind}/{s.trait}"):
            rows_of[group] += 1
            if value is None:
                unscored[group] += 1
            else:
                values[group].append(value)
    means = {g: (sum(v) / len(v) if v else None) for g, v in values.items()}
    return {
        "dev_trait_score": means.get("trait"),
        "dev_capability_reward": means.get("capability"),
        "dev_trait_unscored": unscored["trait"] / rows_of["trait"] if rows_of["trait"] else None,
        "dev_capability_unscored": unscored["capability"] / rows_of["capability"] if rows_of["capability"] else None,
        "dev_by_group": {g: means.get(g) for g in sorted(rows_of) if "/" in g},
        "dev_n": {"trait": rows_of["trait"], "capability": rows_of["capability"]},
    }
