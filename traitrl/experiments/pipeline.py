"""`traitrl run`: the paper end to end, as a short linear orchestration of cached stages.

scenarios -> base policy -> RL arms (every paper arm x every seed; compute-matched, only the data
mixture differs) -> the held-out suite on the base and every arm -> scoreboards (arms pooled over
seeds) -> training curves -> persistence (prompting: baseline vs trait; fine-tuning: base,
baseline, trait) -> results.json -> report.html. Every stage is cached under its derived key
(`stage.py`), so rerunning the same command after an interruption resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from traitrl.atomic import write_text
from traitrl.config import Config
from traitrl.console import console
from traitrl.experiments import stages
from traitrl.experiments.records import ArmResult, BaseResult, EvalRun
from traitrl.experiments.stage import Runner
from traitrl.train.arms import COMPARISONS, CONTROL_ARM, PAPER_ARMS


def arm_label(arm: str, seed_index: int, seeds: int) -> str:
    """The arm's name in files and results: the arm alone with one seed, else arm-sINDEX."""
    return arm if seeds == 1 else f"{arm}-s{seed_index}"


def run_experiment(cfg: Config, out: Path, seeds: int | None = None) -> Path:
    from traitrl.evals.compare import compare, sensitivity
    from traitrl.evals.results import load_results, save_results

    seeds = seeds or cfg.run.seeds
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"seeds": seeds})})
    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.yaml", cfg.to_yaml())
    run = Runner(cfg, out)

    # 1. scenarios; 2. the base policy
    data = run(stages.scenarios, "scenarios", dest="data")
    console.print(f"[bold]scenarios[/bold]: {data.counts}")
    base = (stages.given_model(Path(cfg.policy.model)) if cfg.policy.model
            else run(stages.organism, "organism", dest="organism"))
    console.print(f"[bold]base policy[/bold]: {base.path} ({base.source})")

    # 3. RL arms: identical settings, only the data mixture differs; the seed is part of the identity
    arms: list[ArmResult] = []
    for i in range(seeds):
        for arm in PAPER_ARMS:
            label = arm_label(arm, i, seeds)
            arms.append(run(stages.train_arm, f"train_{label}", base=base, data=data, arm=arm,
                            seed=cfg.train.seed + i, dest=f"arms/{label}", name=label, restart_stale=True))

    # 4. the held-out suite on every model; the base organism under known personas
    evals: dict[str, EvalRun] = {m.name: run(stages.evaluate, f"eval_{m.name}", model=m, dest=f"evals/{m.name}.json")
                                 for m in [base, *arms]}
    steered = {p: run(stages.evaluate, f"eval_base_{p}", model=base, persona=p, dest=f"evals/base.{p}.json")
               for p in ("known_careful", "known_harmful")}
    flags = sensitivity(load_results(out / steered["known_careful"].file),
                        load_results(out / steered["known_harmful"].file)).flags()
    results = {name: load_results(out / e.file).with_informative(flags) for name, e in evals.items()}
    for name, r in results.items():
        save_results(out / evals[name].file, r)

    # 5. scoreboards: each arm vs the control, pooled over seeds
    pooled = {arm: _pool_seeds([results[a.name] for a in arms if a.arm == arm], arm) for arm in PAPER_ARMS}
    scoreboards = {}
    for key, arm in COMPARISONS:
        scoreboards[key] = compare(pooled[CONTROL_ARM], pooled[arm], seed=cfg.evals.item_seed)
        scoreboards[key].write_csv(out / f"scoreboard_{key}.csv")
    console.print(f"[bold]{scoreboards['trait_vs_baseline'].headline()}[/bold]")

    # 6. training curves: the in-distribution trait score and a smaller suite on every checkpoint
    curves = {a.name: _curve(run, cfg, out, a, evals[base.name].pooled) for a in arms}

    # 7. persistence on the first seed's arms
    first = {a.arm: a for a in arms if a.seed == cfg.train.seed}
    prompting = run(stages.prompting, "persist_prompting", models=[first[CONTROL_ARM], first["trait"]],
                    dest="persistence/prompting")
    finetuning = run(stages.finetune, "persist_finetune", models=[base, first[CONTROL_ARM], first["trait"]],
                     dest="persistence/finetune")

    # 8. results.json and the report
    path = _write_results(cfg, out, run, t_start, data.counts, base, arms, results, scoreboards, curves,
                          prompting.summary.for_run_results(), finetuning.summary.for_run_results())
    from traitrl.report import build_report

    report = build_report(out)
    console.print(f"[bold]done[/bold] in {time.perf_counter() - t_start:.0f}s: {path}, {report}")
    return path


def _write_results(cfg, out, run, t_start, counts, base: BaseResult, arms: list[ArmResult], results, scoreboards,
                   curves, prompting, finetuning) -> Path:
    from importlib import metadata

    from traitrl.report.environment import collect_environment
    from traitrl.report.schema import ArmStats, RunMeta, RunResults, eval_scores, save_run_results

    timings = {f"{k}_s": v for k, v in run.timings.items()} | {"total_s": round(time.perf_counter() - t_start, 2)}
    meta = RunMeta(name=cfg.name, config_hash=cfg.hash(), config_path="config.yaml",
                   seeds=sorted({a.seed for a in arms}), traitrl_version=metadata.version("traitrl"),
                   created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                   counts={**counts, "evals": len(results[base.name].evals), "eval_items": cfg.evals.n_items})
    res = RunResults(
        meta=meta,
        models={base.name: base.path} | {a.name: a.path for a in arms},
        arms={a.name: ArmStats(generated_tokens=a.generated_tokens, optimizer_steps=a.optimizer_steps,
                               final_rewards=a.final_rewards, trait_fraction=a.trait_fraction,
                               trait_domains=a.trait_domains, wall_s=a.wall_s) for a in arms},
        evals=eval_scores(results),
        scoreboard={k: v.model_dump(mode="json") for k, v in scoreboards.items()},
        training_curves=curves,
        persistence={"prompting": prompting, "finetuning": finetuning},
        timings=timings,
        environment=collect_environment().model_dump(),
    )
    save_run_results(out / "results.json", res)
    return out / "results.json"


def _pool_seeds(parts, arm: str):
    """One results object per arm: with several seeds, items of every seed (ids made unique)."""
    if len(parts) == 1:
        return parts[0]
    evals = []
    for e in parts[0].evals:
        items = [it.model_copy(update={"item_id": f"{it.item_id}@s{i}"}) for i, p in enumerate(parts)
                 for it in p.by_id()[e.id].items]
        evals.append(type(e).from_items(items=items, **e.model_dump(exclude={"items", "n", "value", "ci", "unscored"})))
    return parts[0].model_copy(update={"evals": evals, "model": arm})


def _curve(run: Runner, cfg: Config, out: Path, arm: ArmResult, base_value: float | None) -> dict:
    """In-distribution trait score (dev.jsonl, scored by the trainer at each checkpoint) and the
    pooled score of a smaller held-out suite on the same checkpoints."""
    small = cfg.model_copy(update={"evals": cfg.evals.model_copy(update={"n_items": cfg.run.curve_items})})
    ood: list[float | None] = []
    for step in arm.curve.steps:
        if step == 0:  # the untrained policy is the base, already evaluated in full
            ood.append(base_value)
            continue
        ckpt = arm.checkpoint(step)
        if not (out / ckpt.path / "config.json").is_file():  # removed by train.keep_checkpoints
            ood.append(None)
            continue
        ood.append(run(stages.evaluate, f"curve_{arm.name}_{step}", config=small, model=ckpt,
                       dest=f"evals/curves/{arm.name}-{step}.json").pooled)
    return {"steps": list(arm.curve.steps), "in_distribution_trait_score": list(arm.curve.dev_trait_score),
            "out_of_distribution_score": ood,
            "out_of_distribution_aggregate": f"mean aligned score over all held-out items ({cfg.run.curve_items} per eval)"}
