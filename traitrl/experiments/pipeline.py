"""`traitrl run`: the paper end to end, as a short linear orchestration of cached stages.

scenarios -> organism -> RL arms (compute-matched; only the data mixture differs) -> the
held-out suite on the base organism, every arm and the arms' checkpoints -> scoreboards ->
persistence (prompting: baseline vs trait; fine-tuning: base, baseline, trait) -> results.json
-> report.html. Every stage is cached by a content hash (see `stages.py`), so rerunning the same
command after an interruption resumes from the last completed stage.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from traitrl.atomic import write_text
from traitrl.config import Config
from traitrl.console import console, progress
from traitrl.experiments.stages import StageCache, content_key

ARMS = ("baseline", "trait", "health_only", "no_health_science")
COMPARED = (("trait_vs_baseline", "trait"), ("health_only_vs_baseline", "health_only"),
            ("no_health_science_vs_baseline", "no_health_science"))


def _rel(path: Path, root: Path) -> str:
    return str(Path(path).resolve().relative_to(root.resolve()))


def _evaluate(model_dir: Path, cfg: Config, name: str, out: Path, persona: str = "none") -> dict:
    from traitrl.commands.common import load_policy
    from traitrl.evals.registry import select
    from traitrl.evals.results import save_results
    from traitrl.evals.runner import evaluate, suite_generations

    specs = select(cfg.evals.ids or None, cfg.evals.families or None)
    policy = load_policy(model_dir, cfg)
    total = suite_generations(specs, cfg.evals.n_items)
    with progress() as bar:
        task = bar.add_task(f"eval {name} ({persona})", total=total)
        results = evaluate(policy, cfg, name, persona, progress=lambda k: bar.advance(task, k), specs=specs)
    save_results(out, results)
    return {"file": str(out), "value": _pooled(results)}


def _pooled(results) -> float | None:
    scores = [it.score for e in results.evals for it in e.items if it.score is not None]
    return sum(scores) / len(scores) if scores else None


def run_experiment(cfg: Config, out: Path, seeds: int = 1) -> Path:
    """One writer per run folder: a second `traitrl run` on `out` is refused at once (exit 2)."""
    from traitrl.locks import hold_folder

    with hold_folder(out, "traitrl run"):
        return _run_experiment(cfg, out, seeds)


def _run_experiment(cfg: Config, out: Path, seeds: int = 1) -> Path:
    from traitrl.commands.organism import build_model
    from traitrl.evals.compare import compare, sensitivity
    from traitrl.evals.results import load_results, save_results
    from traitrl.persistence.common import ModelRef
    from traitrl.persistence.finetune import run_finetune
    from traitrl.persistence.prompting import run_prompting
    from traitrl.report import build_report
    from traitrl.report.environment import collect_environment
    from traitrl.report.schema import RunResults, eval_scores, save_run_results
    from traitrl.scenarios.generate import generate
    from traitrl.train.grpo import train

    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.yaml", cfg.to_yaml())
    cache = StageCache(out)

    # 1. scenarios
    data_key = content_key("scenarios", cfg.hash("world", "scenarios"))
    counts = cache.run("scenarios", data_key, lambda: {k: len(v) for k, v in generate(cfg, out / "data").items()})
    console.print(f"[bold]scenarios[/bold]: {counts}")

    # 2. the model organism
    org_key = content_key("organism", cfg.hash("world", "corpus", "organism"))
    cache.run("organism", org_key, lambda: {"path": _rel(build_model(cfg, out / "organism"), out)})
    models: dict[str, Path] = {"base": out / "organism"}
    model_keys: dict[str, str] = {"base": org_key}
    console.print(f"[bold]organism[/bold]: {models['base']}")

    # 3. RL arms: identical settings, only the data mixture differs
    arms: dict[str, dict] = {}
    for seed in range(seeds):
        for arm in ARMS:
            name = arm if seeds == 1 else f"{arm}-s{seed}"
            arm_cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"seed": cfg.train.seed + seed})})
            key = content_key("arm", org_key, data_key, arm_cfg.hash("train"), arm)
            arms[name] = cache.run(f"train_{name}", key, lambda c=arm_cfg, n=name, a=arm: _train(train, c, out, n, a))
            models[name] = out / arms[name]["model"]
            model_keys[name] = key

    # 4. the held-out suite on every model; sensitivity of each eval on the base organism
    eval_key = cfg.hash("world", "evals")
    results = {}
    for name, path in models.items():
        f = out / "evals" / f"{name}.json"
        cache.run(f"eval_{name}", content_key("eval", model_keys[name], eval_key),
                  lambda p=path, n=name, f=f: _evaluate(p, cfg, n, f))
        results[name] = load_results(f)
    for persona in ("known_careful", "known_harmful"):
        f = out / "evals" / f"base.{persona}.json"
        cache.run(f"eval_base_{persona}", content_key("eval", org_key, eval_key, persona),
                  lambda p=persona, f=f: _evaluate(models["base"], cfg, "base", f, p))
    sens = sensitivity(load_results(out / "evals" / "base.known_careful.json"), load_results(out / "evals" / "base.known_harmful.json"))
    flags = sens.flags()
    results = {k: v.with_informative(flags) for k, v in results.items()}
    for name, r in results.items():
        save_results(out / "evals" / f"{name}.json", r)

    # 5. scoreboards (arms pooled over seeds)
    pooled = {arm: _pool_seeds([results[n] for n in results if n.split("-s")[0] == arm], arm) for arm in ARMS}
    scoreboards = {}
    for key, arm in COMPARED:
        scoreboards[key] = compare(pooled["baseline"], pooled[arm], seed=cfg.evals.item_seed)
        scoreboards[key].write_csv(out / f"scoreboard_{key}.csv")
    console.print(f"[bold]{scoreboards['trait_vs_baseline'].headline()}[/bold]")

    # 6. training curves: in-distribution trait score and the suite on every checkpoint
    base_pooled = _pooled(results["base"])
    curves = {name: _curve(cache, cfg, out, name, arms[name], model_keys[name], base_pooled) for name in arms}

    # 7. persistence
    p_key = content_key("persist", model_keys["baseline"], model_keys["trait"], cfg.hash("world", "evals", "persistence"))
    ref = lambda n: ModelRef(n, models[n])  # noqa: E731
    prompting = cache.run("persist_prompting", p_key, lambda: run_prompting(
        [ref("baseline"), ref("trait")], cfg, out / "persistence" / "prompting", _task).for_run_results())
    f_key = content_key("finetune", org_key, p_key)
    finetuning = cache.run("persist_finetune", f_key, lambda: run_finetune(
        [ref("base"), ref("baseline"), ref("trait")], cfg, out / "persistence" / "finetune", _task).for_run_results())

    # 8. results.json and the report
    env = collect_environment()
    timings = {f"{k}_s": v for k, v in cache.timings.items()} | {"total_s": round(time.perf_counter() - t_start, 2)}
    run = RunResults(
        meta={"name": cfg.name, "config_hash": cfg.hash(), "config_path": "config.yaml", "seeds": list(range(seeds)),
              "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "counts": {**counts, "evals": len(results["base"].evals), "eval_items": cfg.evals.n_items}},
        models={k: _rel(v, out) for k, v in models.items()},
        arms={n: _arm_stats(a) for n, a in arms.items()},
        evals=eval_scores(results),
        scoreboard={k: v.model_dump(mode="json") for k, v in scoreboards.items()},
        training_curves=curves,
        persistence={"prompting": prompting, "finetuning": finetuning},
        timings=timings,
        environment=env.model_dump() if hasattr(env, "model_dump") else env,
    )
    save_run_results(out / "results.json", run)
    report = build_report(out)
    console.print(f"[bold]done[/bold] in {timings['total_s']:.0f}s: {out / 'results.json'}, {report}")
    return out / "results.json"


def _task(description: str, total: int):
    bar = progress()
    bar.start()
    task = bar.add_task(description, total=total)

    def advance(k: int) -> None:
        bar.advance(task, k)
        if bar.tasks[0].completed >= total:
            bar.stop()

    return advance


def _train(train_fn, cfg: Config, out: Path, name: str, arm: str) -> dict:
    result = train_fn(cfg, out / "organism", out / "arms" / name, arm=arm, scenarios_dir=out / "data")
    result = dict(result)
    result["model"] = _rel(Path(result["model"]), out)
    return result


def _arm_stats(a: dict) -> dict:
    rewards = {k: v for k, v in (a.get("final_train_rewards") or {}).items() if v is not None}
    rewards |= {k: v for k, v in (a.get("final") or {}).items() if isinstance(v, int | float)}
    return {"generated_tokens": a.get("generated_tokens"), "optimizer_steps": a.get("optimizer_steps"),
            "final_rewards": rewards, "trait_fraction": (a.get("mix") or {}).get("trait_fraction"),
            "wall_s": a.get("wall_s")}


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


def _curve(cache: StageCache, cfg: Config, out: Path, name: str, arm: dict, arm_key: str, base_value: float | None) -> dict:
    """In-distribution trait score (dev.jsonl, scored by the trainer at each checkpoint) and the
    pooled score of a smaller held-out suite on the same checkpoints."""
    curve = arm["curve"]
    steps = list(curve["steps"])
    ood = []
    small = cfg.model_copy(update={"evals": cfg.evals.model_copy(update={"n_items": cfg.run.curve_items})})
    for step in steps:
        if step == 0:  # the untrained policy is the base organism, already evaluated in full
            ood.append(base_value)
            continue
        ckpt = out / "arms" / name / "checkpoints" / f"checkpoint-{step}"
        f = out / "evals" / "curves" / f"{name}-{step}.json"
        if not (ckpt / "config.json").is_file():
            ood.append(None)
            continue
        r = cache.run(f"curve_{name}_{step}", content_key("curve", arm_key, step, small.hash("evals")),
                      lambda c=ckpt, f=f, s=step: _evaluate(c, small, f"{name}@{s}", f))
        ood.append(r["value"])
    return {"steps": steps, "in_distribution_trait_score": list(curve["dev_trait_score"]),
            "out_of_distribution_score": ood,
            "out_of_distribution_aggregate": f"mean aligned score over all held-out items ({cfg.run.curve_items} per eval)"}
