"""A run on a given policy (`policy.model`): what it needs, and what it hands the stages.

With a given policy no organism is built, so the settings of the organism's build are refused
beside it; the run trains on the user's scenarios, is scored on `evals.benchmarks`, and its
persistence experiments take English persona files and the user's attack file; the helpfulness
control is rewarded by the judge's generic helpfulness score, so it needs a judge. `check_given_policy`
names every missing piece at once, before any work (exit 2).
"""

from __future__ import annotations

from collections.abc import Sequence

from traitrl.config import Config
from traitrl.experiments.records import BaseResult

# Settings of the organism's build; with a given policy they would silently do nothing.
ORGANISM_ONLY = ("corpus", "organism")


def organism_only_settings(cfg: Config) -> list[str]:
    """The organism-only keys (corpus.*, organism.*) the config sets away from their defaults."""
    changed = []
    for section in ORGANISM_ONLY:
        value = getattr(cfg, section)
        default = type(value)()
        changed += [f"{section}.{k}" for k in type(value).model_fields if getattr(value, k) != getattr(default, k)]
    return changed


def world_suite(cfg: Config, given: bool) -> bool:
    """Whether the organism's world suite is scored: `evals.world_suite`, where auto = not for a
    given policy (the suite speaks only the organism's invented language)."""
    return (not given) if cfg.evals.world_suite == "auto" else bool(cfg.evals.world_suite)


def check_given_policy(cfg: Config) -> None:
    """What a run on a given policy (policy.model) needs, checked before any work: no organism-only
    settings, scenarios of its own, something to score it on, a judge for judged benchmarks, and
    the persistence inputs. Every problem is named at once (exit 2)."""
    from traitrl.errors import UserError
    from traitrl.evals.external import external_kind
    from traitrl.evals.importers import BenchmarkSpec, get_format
    from traitrl.scenarios.sources import has_sources

    problems = []
    if changed := organism_only_settings(cfg):
        problems.append(f"  {', '.join(changed)}: only apply to the organism, which is not built when policy.model "
                        "is set; remove them")
    if cfg.scenarios.dir is None and not has_sources(cfg):
        problems.append("  scenarios.dir or scenarios.files / capability / llm: a given policy trains on your "
                        "scenarios: a folder with train.jsonl and dev.jsonl (scenarios.dir), or sources the run "
                        "assembles (your scenario files, GSM8K/MATH imports, LLM generation with the judge); the "
                        "world's are in the organism's invented language")
    if not cfg.evals.benchmarks and not world_suite(cfg, True):
        problems.append("  evals.benchmarks: a given policy is scored on benchmark files (FORMAT:PATH) or inspect_ai "
                        "tasks (inspect:TASK_FILE.py@TASK); list at least one")
    judged = [s for s in cfg.evals.benchmarks
              if external_kind(s) is None and get_format(BenchmarkSpec.parse(s).format).needs_judge]
    if judged and cfg.judge is None:
        problems.append(f"  judge: {', '.join(judged)} are graded by an LLM judge; configure judge.base_url and judge.model")
    from traitrl.experiments.pipeline import study_arms

    arms = study_arms(cfg)
    if (helpful := helpfulness_arms(arms)) and cfg.judge is None:
        others = ",".join(a for a in arms if a not in helpful)
        problems.append(f"  run.arms / judge: the {', '.join(helpful)} arm on a given policy is rewarded by the LLM "
                        "judge's generic helpfulness score (the organism's signal reads only its invented language); "
                        f"configure judge.base_url and judge.model, or leave the arm out with run.arms=[{others}]")
    if "prompting" in cfg.run.persistence and cfg.persistence.prompting.persona_dir is None:
        problems.append("  persistence.prompting.persona_dir: English persona prompts steer a given policy "
                        "(e.g. configs/personas)")
    if "finetune" in cfg.run.persistence and cfg.persistence.finetune.file is None:
        problems.append("  persistence.finetune.file: the fine-tuning attack on a given policy trains on your chat "
                        "file (JSONL of {\"messages\": [...]})")
    if problems:
        raise UserError("\n".join([f"policy.model is {cfg.policy.model}: the config cannot run on a given policy", *problems]))


def helpfulness_arms(arms: Sequence[str]) -> list[str]:
    """The arms among `arms` whose trait prompts are rewarded by the helpfulness signal: on a given
    policy, the judge's generic helpfulness score (`traitrl.graders.helpfulness`)."""
    from traitrl.graders.registry import HELPFULNESS
    from traitrl.train.arms import get_arm

    return [a for a in arms if get_arm(a).data.get("trait_reward") == HELPFULNESS]


def persistence_inputs(cfg: Config, specs: list[str]) -> tuple[dict, dict]:
    """The prompting and fine-tuning stages' inputs for a given policy: the pinned benchmarks, the
    persona lists and the attack file's hash (contents, so an edited file reruns what it feeds)."""
    from traitrl.persistence.attack_file import read_attack_file
    from traitrl.persistence.personas import load_personas

    fc, folder = cfg.persistence.finetune, cfg.persistence.prompting.persona_dir
    prompting = finetune = {}
    if "prompting" in cfg.run.persistence and folder is not None:  # check_given_policy: set when needed
        prompting = {"benchmarks": specs, "personas": load_personas(folder).model_dump(mode="json")}
    if "finetune" in cfg.run.persistence and fc.file is not None:
        finetune = {"benchmarks": specs, "attack_sha256": read_attack_file(fc.file, fc.file_sha256)[1]}
    return prompting, finetune


def run_notes(base: BaseResult, benches: list, suite: bool, arms: Sequence[str] = (),
              judge_model: str | None = None) -> list[str]:
    """What the report says about where the run's models, rewards and evals came from (`arms`: the
    arms trained; `judge_model`: the configured judge's model)."""
    notes = []
    if base.source == "given":
        notes.append(f"policy: the given model {base.path}; every arm starts from it and no organism was built")
        for arm in helpfulness_arms(arms):
            notes.append(f"the {arm} arm's trait prompts are rewarded by the LLM judge ({judge_model}) with a generic "
                         "helpfulness score (how helpful, clear and responsive the reply is to the user, 0-100 scaled "
                         "to 0-1) that never sees the trait rubric")
    if benches:
        notes.append(f"benchmarks: {', '.join(f'{b.format}:{b.name} ({b.n_items} items, sha256 {b.sha256[:12]})' for b in benches)}")
    if not suite:
        notes.append("the organism's world suite was not scored (evals.world_suite); the scoreboard, curves and "
                     "persistence are on the benchmarks")
    return notes
