"""The stages of the study, in the order `traitrl run` calls them.

scenarios -> base policy (the organism, or a given model) -> RL arm (one per arm and seed) ->
evaluate (any model, any persona) -> persona prompting -> fine-tuning attack. Each declares the
config sections it reads and the packages whose code it runs (see `stage.py`), so its cache key
is derived; each returns a typed record. CLI commands call these same functions through
`stage.call`; the pipeline calls them through a cached `Runner`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from traitrl.config import MODEL_CONFIG
from traitrl.console import progress
from traitrl.experiments.cache import folder_fingerprint
from traitrl.experiments.records import (
    ArmResult,
    BaseResult,
    EvalRun,
    FinetuneResult,
    ModelResult,
    PromptingResult,
    ScenariosResult,
)
from traitrl.experiments.stage import StageContext, stage

WORLD_CODE = ("traitrl.world", "traitrl.graders", "traitrl.taxonomy")
EVAL_CODE = (*WORLD_CODE, "traitrl.evals", "traitrl.models")


@stage("scenarios", version=1, config=("world", "scenarios"), code=(*WORLD_CODE, "traitrl.scenarios"),
       result=ScenariosResult)
def scenarios(ctx: StageContext, *, dest: str = "data") -> ScenariosResult:
    """train.jsonl (trait scenarios + capability tasks) and dev.jsonl from the world."""
    from traitrl.scenarios.generate import generate

    splits = generate(ctx.config, ctx.path(dest))
    return ScenariosResult(dir=dest, counts={k: len(v) for k, v in splits.items()})


# what decides an assembly besides its sources' bytes: the importers' verifier rows, the generator's client
ASSEMBLY_CODE = ("traitrl.scenarios", "traitrl.taxonomy", "traitrl.graders.registry", "traitrl.graders.verifiers",
                 "traitrl.graders.llm_client")


@stage("assemble", version=1, config=("scenarios",), code=ASSEMBLY_CODE, result=ScenariosResult)
def assemble_scenarios(ctx: StageContext, *, sources: dict[str, str], generator: dict | None,
                       dest: str = "data") -> ScenariosResult:
    """train.jsonl, dev.jsonl and manifest.json from a given policy's sources (scenarios.files,
    scenarios.capability, scenarios.llm): de-duplicated, split, written together. `sources` (each
    file's sha256) and `generator` (the judge settings that decide generated rows) key it."""
    from traitrl.scenarios.assemble import assemble

    _, manifest = assemble(ctx.config, ctx.path(dest), expected=sources)
    return ScenariosResult(dir=dest, counts=manifest.counts)


def assembly_inputs(cfg) -> dict:
    """The assembly stage's keyed inputs, read before any work (a missing file or a broken pin fails here)."""
    from traitrl.scenarios.sources import fingerprints, generator_settings

    return {"sources": fingerprints(cfg), "generator": generator_settings(cfg)}


def given_scenarios(folder: Path) -> ScenariosResult:
    """A scenario folder the user made, keyed by its files' content."""
    from traitrl.experiments.cache import file_fingerprint

    files = [folder / "train.jsonl", folder / "dev.jsonl"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        from traitrl.errors import UserError

        raise UserError(f"{folder}: no {' or '.join(missing)} (make them with `traitrl scenarios generate`)")
    counts = {f.stem: sum(1 for line in f.read_text(encoding="utf-8").splitlines() if line.strip()) for f in files}
    return ScenariosResult(dir=str(folder), counts=counts, key=file_fingerprint(*files))


@stage("organism", version=1, config=("world", "corpus", "organism"), code=(*WORLD_CODE, "traitrl.models"),
       result=BaseResult)
def organism(ctx: StageContext, *, dest: str = "organism", show_progress: bool = True) -> BaseResult:
    """Sample the corpus, train the tokenizer and pretrain the tiny Llama into `dest`."""
    from traitrl.atomic import write_text
    from traitrl.models.build import build_organism
    from traitrl.world.corpus import sample_corpus

    cfg = ctx.config
    path = build_organism(cfg, ctx.path(dest), lambda: sample_corpus(cfg), key=ctx.key,
                          show_progress=show_progress)
    write_text(Path(path) / MODEL_CONFIG, cfg.to_yaml())
    return BaseResult(name="base", path=dest, source="organism")


def given_model(path: Path, name: str = "base") -> BaseResult:
    """A model folder made elsewhere (policy.model, --init, --model), keyed by its weights."""
    from traitrl.errors import UserError

    if not (path / "config.json").is_file():
        raise UserError(f"{path}: not a Hugging Face model folder (no config.json)")
    return BaseResult(name=name, path=str(path), source="given", key=folder_fingerprint(path))


@stage("arm", version=1, config=("train", "world", "evals.sampling", "policy", "judge"),
       code=(*WORLD_CODE, "traitrl.train", "traitrl.models", "traitrl.scenarios"), result=ArmResult)
def train_arm(ctx: StageContext, *, base: ModelResult, data: ScenariosResult, arm: str, seed: int,
              dest: str, name: str, restart_stale: bool = False, show_progress: bool = True) -> ArmResult:
    """One compute-matched arm with TRL's GRPO: only the data mixture differs between arms, and
    `seed` (the RL seed) is part of the arm's identity. Resumes from its last checkpoint; with
    `restart_stale` (a run folder's own arms), a folder trained with other inputs starts over."""
    from traitrl.train.grpo import train
    from traitrl.train.run_folder import clear_stale_run

    if restart_stale:
        clear_stale_run(ctx.path(dest), ctx.key)
    cfg = ctx.config.model_copy(update={"train": ctx.config.train.model_copy(update={"seed": seed})})
    rec = train(cfg, ctx.path(base.path), ctx.path(dest), arm=arm, scenarios_dir=ctx.path(data.dir), key=ctx.key,
                show_progress=show_progress)
    return ArmResult(
        name=name, path=str(Path(dest) / "model"), arm=rec.arm, seed=rec.seed,
        optimizer_steps=rec.optimizer_steps, generated_tokens=rec.generated_tokens,
        completion_tokens=rec.completion_tokens, trait_fraction=rec.mix.trait_fraction,
        trait_domains=sorted(rec.mix.trait_domains), final_rewards=rec.final_rewards,
        unscored_rate=rec.unscored_rate, curve=rec.curve, wall_s=rec.wall_s,
        fixed_length_rollouts=rec.fixed_length_rollouts, judge=rec.judge,
    )


# the evaluate stage tags benchmark results health / non-health with the persistence suite's rule
@stage("evaluate", version=1, config=("world", "evals", "policy", "judge"),
       code=(*EVAL_CODE, "traitrl.persistence.benchmark_suite"), result=EvalRun)
def evaluate(ctx: StageContext, *, model: ModelResult, dest: str, persona: str = "none",
             benchmarks: list[str] | None = None, suite: bool = True, max_items: int | None = None,
             show_progress: bool = True) -> EvalRun:
    """The held-out suite (and any benchmarks, the first `max_items` items of each; None = all)
    on `model` under one persona condition, written with per-item records to `dest`. Benchmarks
    are files (FORMAT:PATH) or external tasks (inspect:...), run by their framework on the model
    folder with the persona prompt as the system message and their logs beside `dest`."""
    from traitrl.evals.benchmarks import judge_grader, run_benchmark
    from traitrl.evals.external import log_dir_for, split_benchmarks
    from traitrl.evals.importers import get_format, load_benchmark
    from traitrl.evals.registry import select
    from traitrl.evals.results import save_results
    from traitrl.evals.runner import evaluate as run_suite
    from traitrl.evals.runner import persona_prompt, suite_generations
    from traitrl.models.loader import load_policy
    from traitrl.persistence.benchmark_suite import with_domains

    cfg = ctx.config
    external, files = split_benchmarks(benchmarks or [])  # inspect tasks, checked before model work
    benches = [load_benchmark(b) for b in files]  # every file is checked before model work
    specs = select(cfg.evals.ids or None, cfg.evals.families or None) if suite else []
    # external frameworks load their own copy of the model: run them before ours is in memory
    ran = [with_domains(e.run(ctx.path(model.path), cfg, log_dir_for(ctx.path(dest), e.kind.prefix),
                              system_message=persona_prompt(persona, e.eval_id), limit=max_items), cfg)
           for e in external]
    policy = load_policy(ctx.path(model.path), cfg)
    with _bar(show_progress) as task:
        results = run_suite(policy, cfg, model.name, persona,
                            progress=task(f"eval {model.name} ({persona})", suite_generations(specs, cfg.evals.n_items)),
                            specs=specs)
        judge = None
        if cfg.judge is not None and any(get_format(b.format).needs_judge for b in benches):
            from traitrl.graders.judge import LLMJudge

            judge = LLMJudge(cfg.judge)
        for b in benches:
            n = min(b.n_items, max_items or b.n_items)
            results.benchmarks.append(with_domains(run_benchmark(
                policy, b, judge=judge_grader(judge) if judge else None, seed=cfg.evals.sampling.seed,
                progress=task(f"{b.format}:{b.name}", n), max_items=max_items), cfg))
        results.benchmarks.extend(ran)
        if judge is not None:
            results = results.model_copy(update={"meta": {**results.meta, "judge": {**cfg.judge.settings(), **judge.stats()}}})
    save_results(ctx.path(dest), results)
    # oriented, so the pooled score reads "higher = more aligned" across metrics of both directions
    scores = [it.score if e.higher_is_better else 1.0 - it.score
              for e in results.all_evals() for it in e.items if it.score is not None]
    return EvalRun(model=model.name, persona=persona, file=dest, pooled=sum(scores) / len(scores) if scores else None)


@stage("prompting", version=1, config=("world", "evals", "persistence", "policy", "judge"),
       code=(*EVAL_CODE, "traitrl.persistence"), result=PromptingResult)
def prompting(ctx: StageContext, *, models: list[ModelResult], dest: str, benchmarks: list[str] | None = None,
              personas: dict | None = None, show_progress: bool = True) -> PromptingResult:
    """Adversarial persona prompting: every model under no prompt and known / unseen harmful and
    helpful personas, with drops, gains and the selective-persistence differences. On the world
    suite with the world's personas (the organism), or, given `benchmarks` (pinned specs) and
    `personas` (English persona lists), on those benchmarks (a given policy; files and inspect:
    tasks, an inspect task's persona sent as its system message)."""
    from traitrl.persistence.common import ModelRef
    from traitrl.persistence.prompting import run_benchmark_prompting, run_prompting

    refs = [ModelRef(m.name, ctx.path(m.path)) for m in models]
    with _bar(show_progress) as task:
        if benchmarks:
            from traitrl.persistence.benchmark_suite import BenchmarkSuite, load_suite
            from traitrl.persistence.personas import Personas

            if personas is None:
                raise ValueError("prompting on benchmarks needs the persona lists")
            suite = BenchmarkSuite(ctx.config, load_suite(benchmarks), ctx.config.persistence.prompting.n_items)
            summary = run_benchmark_prompting(refs, ctx.config, ctx.path(dest), suite, Personas.model_validate(personas),
                                              task, key=ctx.key)
        else:
            summary = run_prompting(refs, ctx.config, ctx.path(dest), task, key=ctx.key)
    return PromptingResult(dir=dest, summary=summary)


@stage("finetune", version=1, config=("world", "evals", "persistence", "policy", "judge"),
       code=(*EVAL_CODE, "traitrl.persistence"), result=FinetuneResult)
def finetune(ctx: StageContext, *, models: list[ModelResult], dest: str, benchmarks: list[str] | None = None,
             attack_sha256: str | None = None, show_progress: bool = True) -> FinetuneResult:
    """The harmful fine-tuning attack on every model, in doses, scored after each dose: the world's
    bad-advice data on the world suite (the organism), or, given `benchmarks` (pinned specs), the
    attack file `persistence.finetune.file` (its content pinned by `attack_sha256`) on them."""
    from traitrl.persistence.common import ModelRef
    from traitrl.persistence.finetune import run_finetune

    refs = [ModelRef(m.name, ctx.path(m.path)) for m in models]
    fc = ctx.config.persistence.finetune
    with _bar(show_progress) as task:
        if benchmarks:
            from traitrl.persistence.attack_file import read_attack_file
            from traitrl.persistence.benchmark_suite import BenchmarkSuite, load_suite
            from traitrl.persistence.finetune import benchmark_scoring

            if fc.file is None:
                from traitrl.errors import UserError

                raise UserError("the fine-tuning attack on a given policy needs persistence.finetune.file")
            rows, _ = read_attack_file(fc.file, attack_sha256 or fc.file_sha256)
            suite = BenchmarkSuite(ctx.config, load_suite(benchmarks), fc.n_items)
            summary = run_finetune(refs, ctx.config, ctx.path(dest), task, key=ctx.key,
                                   scoring=benchmark_scoring(suite), rows=rows)
        else:
            summary = run_finetune(refs, ctx.config, ctx.path(dest), task, key=ctx.key)
    return FinetuneResult(dir=dest, summary=summary)


class _bar:
    """A progress display whose `task(description, total)` returns an `advance(k)` callback."""

    def __init__(self, show: bool):
        self.bar = progress() if show else None

    def __enter__(self) -> Callable[[str, int], Callable[[int], None]]:
        if self.bar is None:
            return lambda description, total: (lambda k: None)
        self.bar.start()
        bar = self.bar

        def task(description: str, total: int) -> Callable[[int], None]:
            t = bar.add_task(description, total=total)
            return lambda k: bar.advance(t, k)

        return task

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
