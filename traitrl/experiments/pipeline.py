"""`traitrl run`: the paper end to end, as a short linear orchestration of cached stages.

scenarios -> base policy -> RL arms (every paper arm x every seed; compute-matched, only the data
mixture differs) -> the held-out suite on the base and every arm -> scoreboards (arms pooled over
seeds) -> training curves -> persistence (prompting: baseline vs trait; fine-tuning: base,
baseline, trait; curves and persistence on the first seed's arms) -> results.json -> report.html. Every stage is cached under its derived key
(`stage.py`), so rerunning the same command after an interruption resumes where it stopped.

With `policy.model` set the base is that model and no organism is built: the scenarios are the
user's (`scenarios.dir`, or its sources assembled into RUN/data by a cached stage), the scoreboard, curves and persistence are scored on `evals.benchmarks`
(benchmark files and inspect_ai tasks; the world suite only when `evals.world_suite` asks for it), persona prompting uses English
persona files and the fine-tuning attack the user's chat file. `check_given_policy` refuses
organism-only settings and missing inputs before any work.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

from traitrl.atomic import write_text
from traitrl.config import Config
from traitrl.console import console
from traitrl.experiments import stages
from traitrl.experiments.executor import make_executor
from traitrl.experiments.records import ArmResult, BaseResult, EvalRun
from traitrl.experiments.stage import Call, Runner
from traitrl.train.arms import COMPARISONS, CONTROL, PAPER_ARMS, arm_config


def arm_label(arm: str, seed_index: int, seeds: int) -> str:
    """The arm's name in files and results: the arm alone with one seed, else arm-sINDEX."""
    return arm if seeds == 1 else f"{arm}-s{seed_index}"


def study_arms(cfg: Config) -> list[str]:
    """The arms this run trains, in registry order: `run.arms`, or every paper arm."""
    from traitrl.errors import UserError

    if cfg.run.arms is None:
        return list(PAPER_ARMS)
    unknown = sorted(set(cfg.run.arms) - set(PAPER_ARMS))
    missing = [a for a in (CONTROL, "trait") if a not in cfg.run.arms]
    if unknown or missing:
        raise UserError(f"run.arms: {'unknown arm(s) ' + ', '.join(unknown) if unknown else ''}"
                        f"{'; ' if unknown and missing else ''}"
                        f"{'must include ' + ', '.join(missing) if missing else ''} (arms: {', '.join(PAPER_ARMS)})")
    return [a for a in PAPER_ARMS if a in cfg.run.arms]


def arm_seeds(cfg: Config, arm: str) -> int:
    """How many RL seeds `arm` is trained with: run.seeds for the compared pair, run.secondary_seeds
    (at most run.seeds) for every other arm."""
    if arm in (CONTROL, "trait") or cfg.run.secondary_seeds is None:
        return cfg.run.seeds
    return min(cfg.run.secondary_seeds, cfg.run.seeds)


def run_experiment(cfg: Config, out: Path, seeds: int | None = None, base: BaseResult | None = None,
                   peers: tuple[Path, ...] = ()) -> Path:
    """The whole study into `out`; `base` = a base policy made elsewhere (a sweep's shared organism);
    `peers` = other run folders (a sweep's cells) whose completed stages with the same key are
    adopted instead of rerun. One writer per run folder: a second `traitrl run` on `out` is
    refused at once (exit 2)."""
    from traitrl.experiments.given import check_given_policy
    from traitrl.locks import hold_folder
    from traitrl.models.policy import check_policy

    if cfg.policy.model is not None:  # a missing chat template or vLLM asked for without a GPU: before any work
        check_policy(cfg.policy, cfg.policy.model)
        if base is None:
            check_given_policy(cfg)
    study_arms(cfg)
    seeds = seeds or cfg.run.seeds
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"seeds": seeds})})
    t_start = time.perf_counter()
    with hold_folder(out, "traitrl run"):
        write_text(out / "config.yaml", cfg.to_yaml())
        run = Runner(cfg, out, make_executor(cfg), peers=peers)
        try:
            return _study(cfg, out, run, seeds, t_start, base)
        finally:
            run.close()


def _study(cfg: Config, out: Path, run: Runner, seeds: int, t_start: float, base: BaseResult | None) -> Path:
    from traitrl.evals.compare import compare, sensitivity
    from traitrl.evals.results import load_results, save_results
    from traitrl.experiments.given import persistence_inputs, run_notes, world_suite
    from traitrl.persistence.benchmark_suite import load_suite
    from traitrl.scenarios.sources import has_sources

    # the inputs a given policy brings, read and checked before any model work: benchmark files
    # and inspect tasks, content-pinned (a changed file or task file changes every key that reads it)
    loaded = load_suite(cfg.evals.benchmarks)
    benches, specs = loaded.files, loaded.pinned
    given = base is None and cfg.policy.model is not None
    suite = world_suite(cfg, given)
    bench_inputs = {"benchmarks": specs} if specs else {}
    if not suite:
        bench_inputs["suite"] = False
    prompting_inputs, finetune_inputs = persistence_inputs(cfg, specs) if given else ({}, {})

    # 1. scenarios; 2. the base policy
    # folders the user gave are absolute: stage paths are relative to the run folder otherwise;
    # a given policy's sources (files, imports, the generator) are assembled into RUN/data
    if cfg.scenarios.dir:
        data = stages.given_scenarios(Path(cfg.scenarios.dir).absolute())
    elif has_sources(cfg):
        data = run(stages.assemble_scenarios, "assemble_scenarios", dest="data", **stages.assembly_inputs(cfg))
    else:
        data = run(stages.scenarios, "scenarios", dest="data")
    console.print(f"[bold]scenarios[/bold]: {data.counts}")
    if base is None:
        base = (stages.given_model(Path(cfg.policy.model).absolute()) if cfg.policy.model
                else run(stages.organism, "organism", dest="organism"))
    console.print(f"[bold]base policy[/bold]: {base.path} ({base.source})")

    # 3. RL arms: identical settings, only the data mixture differs; the seed is part of the identity
    names = study_arms(cfg)
    labels = [(arm, i, arm_label(arm, i, seeds)) for i in range(seeds) for arm in names if i < arm_seeds(cfg, arm)]
    # each arm is keyed by the training config it actually runs (its data fields applied), so an
    # arm that trains the same rows in two sweep cells has one key
    arm_cfgs = {arm: cfg.model_copy(update={"train": arm_config(cfg.train, arm)}) for arm in names}
    arms: list[ArmResult] = run.parallel([
        Call(stages.train_arm, f"train_{label}", {"base": base, "data": data, "arm": arm, "seed": cfg.train.seed + i,
                                                  "dest": f"arms/{label}", "name": label, "restart_stale": True},
             config=arm_cfgs[arm])
        for arm, i, label in labels], "RL arms")

    # 4. the held-out suite (and the benchmarks) on every model; with the world suite, the base
    # under known personas (the persona spread is an annotation on each scoreboard row, never a
    # gate on the counts)
    models = [base, *arms]
    personas = ("known_careful", "known_harmful") if suite else ()
    done = run.parallel(
        [Call(stages.evaluate, f"eval_{m.name}", {"model": m, "dest": f"evals/{m.name}.json", **bench_inputs})
         for m in models]
        + [Call(stages.evaluate, f"eval_base_{p}", {"model": base, "persona": p, "dest": f"evals/base.{p}.json"})
           for p in personas], "evaluations")
    evals: dict[str, EvalRun] = {m.name: e for m, e in zip(models, done, strict=False)}
    steered = dict(zip(personas, done[len(models):], strict=True))
    flags = sensitivity(load_results(out / steered["known_careful"].file),
                        load_results(out / steered["known_harmful"].file)).flags() if suite else {}
    results = {name: load_results(out / e.file).with_informative(flags) for name, e in evals.items()}
    for name, r in results.items():
        save_results(out / evals[name].file, r)

    # 5. scoreboards: each arm vs the control, seeds as the unit (CIs resample seeds and prompts)
    by_arm = {arm: [results[a.name] for a in arms if a.arm == arm] for arm in names}
    scoreboards = {}
    for key, arm in compared(names):
        scoreboards[key] = compare(by_arm[CONTROL], by_arm[arm], seed=cfg.evals.item_seed)
        scoreboards[key].write_csv(out / f"scoreboard_{key}.csv")
    console.print(f"[bold]{scoreboards['trait_vs_baseline'].headline()}[/bold]")
    # the refusal control reads the world's moves: only where the world suite was scored
    refusals = _refusals(by_arm, {a.name: [results[a.name]] for a in [base, *arms]}, cfg.evals.item_seed) if suite else None

    # 6. training curves (a smaller suite on every checkpoint) and 7. persistence, both on the
    # persisted seeds' arms (the first seed's, unless run.persistence_seeds asks for more):
    # independent of each other, so they run side by side. A given policy's persistence is scored
    # on the benchmarks, with English personas and the user's attack file; the fine-tuning attack
    # runs on the first seed only.
    pairs = _persisted(cfg, arms)
    first = {a.arm: a for a in arms if a.seed == cfg.train.seed}
    calls: list[tuple[str, Call]] = []
    if "prompting" in cfg.run.persistence:
        calls += [("prompting", Call(stages.prompting, _seeded("persist_prompting", i, pair),
                                     {"models": [pair[CONTROL], pair["trait"]],
                                      "dest": _seeded("persistence/prompting", i, pair, "-"), **prompting_inputs}))
                  for i, pair in enumerate(pairs)]
    if "finetune" in cfg.run.persistence:
        calls.append(("finetune", Call(stages.finetune, "persist_finetune",
                                       {"models": [base, first[CONTROL], first["trait"]],
                                        "dest": "persistence/finetune", **finetune_inputs})))
    curve_inputs = {**bench_inputs, "max_items": cfg.run.curve_items} if specs else {}
    if not suite:
        curve_inputs["suite"] = False
    curve_arms = [*first.values(), *(a for pair in pairs[1:] for a in pair.values())]
    points = _curve_points(cfg, out, base, curve_arms, curve_inputs) if cfg.run.curves else []
    done = run.parallel([c for _, c in calls] + [c for _, _, c in points], "curves and persistence")
    prompted = [r for (kind, _), r in zip(calls, done, strict=False) if kind == "prompting"]
    finetuning = next((r for (kind, _), r in zip(calls, done, strict=False) if kind == "finetune"), None)
    # the in-distribution series comes with every arm (the trainer scores dev at each checkpoint);
    # the held-out series only where the curve evaluations ran (run.curves)
    curves = _curves(cfg, arms, points, done[len(calls):])
    endpoints = _endpoints(cfg, out, run, pairs, curves, prompted, prompting_inputs) if prompted and points else []
    prompting = {k: v for r in prompted for k, v in r.summary.for_run_results().items()} if prompted else None

    # 8. results.json and the report
    path = _write_results(cfg, out, run, t_start, data.counts, base, arms, results, scoreboards, curves,
                          prompting, finetuning and finetuning.summary.for_run_results(), refusals, endpoints,
                          [*run_notes(base, benches, suite, names, cfg.judge and cfg.judge.model),
                           *_external_notes(loaded.external)])
    from traitrl.report import build_report

    report = build_report(out)
    console.print(f"[bold]done[/bold] in {time.perf_counter() - t_start:.0f}s: {path}, {report}")
    return path


def _external_notes(external: list) -> list[str]:
    """The inspect tasks among the benchmarks, with the hash of their code."""
    if not external:
        return []
    return [f"inspect_ai tasks: {', '.join(f'{e.eval_id} ({e.task.shown}, sha256 {e.task.sha256[:12]})' for e in external)}"
            "; their logs are beside each results file"]


def _eval_items(cfg: Config, results) -> int:
    """Items per eval: the suite's n_items, or with benchmarks only, the largest benchmark's."""
    if results.evals:
        return cfg.evals.n_items
    return max((b.n for b in results.benchmarks), default=0)


def _refusals(by_arm: dict, by_model: dict, seed: int) -> dict:
    """Refusal rates per model and eval, and every comparison over the items neither arm refused."""
    from traitrl.evals.compare import compare
    from traitrl.evals.refusals import (
        WORLD_REFUSAL_MOVES,
        moves_refusal,
        refusal_rate,
        without_refusals,
    )

    refused = moves_refusal(WORLD_REFUSAL_MOVES)
    non_refused = {}
    for key, arm in compared(list(by_arm)):
        b, t = without_refusals(by_arm[CONTROL], by_arm[arm], refused)
        non_refused[key] = compare(b, t, seed=seed).model_dump(mode="json")
    return {"moves": sorted(WORLD_REFUSAL_MOVES), "non_refused": non_refused,
            "rates": {name: {k: v.model_dump() for k, v in refusal_rate(r, refused).items()} for name, r in by_model.items()}}


def _write_results(cfg, out, run, t_start, counts, base: BaseResult, arms: list[ArmResult], results, scoreboards,
                   curves, prompting, finetuning, refusals, endpoints, notes: list[str]) -> Path:
    from importlib import metadata

    from traitrl.report.environment import collect_environment
    from traitrl.report.schema import ArmStats, RunMeta, RunResults, eval_scores, save_run_results
    from traitrl.train.record import token_match

    timings = {f"{k}_s": v for k, v in run.timings.items()} | {"total_s": round(time.perf_counter() - t_start, 2)}
    # compute matching, asserted across arms: equal generated tokens, or the gap in words
    match = token_match({a.name: (a.generated_tokens, bool(a.fixed_length_rollouts)) for a in arms})
    meta = RunMeta(name=cfg.name, config_hash=cfg.hash(), config_path="config.yaml",
                   seeds=sorted({a.seed for a in arms}), traitrl_version=metadata.version("traitrl"),
                   created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                   counts={**counts, "evals": len(results[base.name].all_evals()),
                           "eval_items": _eval_items(cfg, results[base.name])},
                   notes=[*notes, *([match.note] if match.note else [])], base_source=base.source)
    res = RunResults(
        meta=meta,
        models={base.name: base.path} | {a.name: a.path for a in arms},
        arms={a.name: ArmStats(arm=a.arm, seed=a.seed, generated_tokens=a.generated_tokens, optimizer_steps=a.optimizer_steps,
                               final_rewards=a.final_rewards, trait_fraction=a.trait_fraction,
                               trait_domains=a.trait_domains, wall_s=a.wall_s, unscored_rate=a.unscored_rate,
                               fixed_length_rollouts=a.fixed_length_rollouts, judge=a.judge) for a in arms},
        evals=eval_scores(results),
        scoreboard={k: v.model_dump(mode="json") for k, v in scoreboards.items()},
        training_curves=curves,
        persistence={"prompting": prompting, "finetuning": finetuning,
                     "endpoints": endpoints[0].model_dump(mode="json") if endpoints else None,
                     "endpoints_by_seed": [e.model_dump(mode="json") for e in endpoints] if len(endpoints) > 1 else []},
        refusals=refusals,
        timings=timings,
        environment=collect_environment().model_dump(),
    )
    save_run_results(out / "results.json", res)
    return out / "results.json"


def compared(names: list[str]) -> list[tuple[str, str]]:
    """The registered comparisons whose treatment arm this run trained."""
    return [(key, arm) for key, arm in COMPARISONS if arm in names]


def _persisted(cfg: Config, arms: list[ArmResult]) -> list[dict[str, ArmResult]]:
    """The baseline and trait arms of the first `run.persistence_seeds` seeds, one pair per seed."""
    seeds = sorted({a.seed for a in arms if a.arm == "trait"})[:cfg.run.persistence_seeds]
    return [{a.arm: a for a in arms if a.seed == s and a.arm in (CONTROL, "trait")} for s in seeds]


def _seeded(name: str, i: int, pair: dict[str, ArmResult], sep: str = "_") -> str:
    """A persistence stage's label or folder: the first seed's keeps the plain name (so runs with
    one persisted seed keep their stages), every other seed's names its seed."""
    return name if i == 0 else f"{name}{sep}s{pair['trait'].seed}"


@dataclass
class _Matched:
    """One persisted seed's matched start: the pair of RL checkpoints (trait, baseline) whose
    no-prompt curve scores are closest, the models to prompt there (a final model is the arm's
    own, already prompted), and the stage call that prompts the others."""

    steps: tuple[int, int]
    scores: tuple[float, float]
    models: list
    final: list[bool]
    call: int | None = None  # index into the matched-start calls run side by side


def _endpoints(cfg: Config, out: Path, run: Runner, pairs: list[dict[str, ArmResult]], curves: dict,
               prompted: list, prompting_inputs: dict) -> list:
    """The persistence endpoints of docs/organism.md §4, one set per persisted seed; for the
    matched start, the pair of RL checkpoints (one per arm) whose no-prompt curve scores are
    closest is prompted as well, every seed's side by side."""
    from traitrl.experiments.endpoints import matched_drop, matched_pair, persistence_endpoints

    matches: list[_Matched | None] = []
    calls: list[Call] = []
    for i, pair in enumerate(pairs):
        arms = (pair["trait"], pair[CONTROL])
        series = [dict(zip(curves[a.name]["steps"], curves[a.name]["out_of_distribution_score"], strict=True))
                  for a in arms]
        steps = matched_pair(*(list(s.items()) for s in series))
        if steps is None:
            matches.append(None)
            continue
        final = [step == arm.curve.steps[-1] for arm, step in zip(arms, steps, strict=True)]
        models = [arm if last else arm.checkpoint(step) for arm, step, last in zip(arms, steps, final, strict=True)]
        m = _Matched(steps, (series[0][steps[0]], series[1][steps[1]]), models, final)
        if not all(final):
            m.call = len(calls)
            calls.append(Call(stages.prompting, _seeded("persist_matched_start", i, pair),
                              {"models": [x for x, last in zip(models, final, strict=True) if not last],
                               "dest": _seeded("persistence/matched_start", i, pair, "-"), **prompting_inputs}))
        matches.append(m)
    done = run.parallel(calls, "matched starts") if calls else []
    pc, endpoints = cfg.persistence, []
    for pair, prompting, m in zip(pairs, prompted, matches, strict=True):
        folder = out / prompting.dir
        drop = None
        if m is not None:
            there = folder if m.call is None else out / done[m.call].dir
            t_at, b_at = [(folder if last else there, x.name) for x, last in zip(m.models, m.final, strict=True)]
            drop = matched_drop(b_at, t_at, m.steps, m.scores, pc.n_boot, pc.seed)
        endpoints.append(persistence_endpoints(folder, pair[CONTROL].name, pair["trait"].name, pc.n_boot, pc.seed, drop))
    return endpoints


def _curve_points(cfg: Config, out: Path, base: BaseResult, arms: list[ArmResult],
                  inputs: dict | None = None) -> list[tuple[str, int, Call]]:
    """(arm, step, evaluation) for the base (every arm's step 0) and every kept checkpoint: the
    same smaller held-out suite, `run.curve_items` items per eval (and per benchmark, given
    `inputs`: the evaluate stage's benchmark inputs), on every point."""
    inputs = inputs or {}
    small = cfg.model_copy(update={"evals": cfg.evals.model_copy(update={"n_items": cfg.run.curve_items})})
    points = [("", 0, Call(stages.evaluate, "curve_base", {"model": base, "dest": "evals/curves/base.json", **inputs},
                           config=small))]
    for arm in arms:
        for step in arm.curve.steps:
            ckpt = arm.checkpoint(step)
            if step > 0 and (out / ckpt.path / "config.json").is_file():  # train.keep_checkpoints may remove some
                points.append((arm.name, step, Call(stages.evaluate, f"curve_{arm.name}_{step}",
                                                    {"model": ckpt, "dest": f"evals/curves/{arm.name}-{step}.json",
                                                     **inputs}, config=small)))
    return points


def _curves(cfg: Config, arms: list[ArmResult], points, runs: list[EvalRun]) -> dict:
    """Per arm: the in-distribution trait score (dev.jsonl, scored by the trainer at each
    checkpoint) and the pooled score of the smaller held-out suite on the same checkpoints (step 0
    is the base; a checkpoint removed by train.keep_checkpoints, or every point with run.curves
    off, is None)."""
    ood = {(name, step): r.pooled for (name, step, _), r in zip(points, runs, strict=True)}
    from traitrl.experiments.given import world_suite

    what = "eval" if world_suite(cfg, cfg.policy.model is not None) else "benchmark"
    return {a.name: {"steps": list(a.curve.steps), "in_distribution_trait_score": list(a.curve.dev_trait_score),
                     "out_of_distribution_score": [ood.get(("", 0) if s == 0 else (a.name, s)) for s in a.curve.steps],
                     "out_of_distribution_aggregate": f"mean aligned score over all held-out items ({cfg.run.curve_items} per {what})"}
            for a in arms}
