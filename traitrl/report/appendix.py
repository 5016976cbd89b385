"""The report's reference sections: every eval's scores, the arms and their compute, the model
folders, timings and the environment — what a reader checks before trusting the headline."""

from __future__ import annotations

from traitrl.report.html import details, duration, esc, kv_table, missing, num, section, table
from traitrl.report.names import Names, label
from traitrl.report.plots import has_ci
from traitrl.report.schema import RunResults, ValueCI
from traitrl.report.summary import compute_sentence, trait_data


def _vci(x: ValueCI | None) -> str:
    if x is None or x.value is None:
        return "—"
    lo_hi = f" <span class=dim>[{x.ci[0]:.2f}, {x.ci[1]:.2f}]</span>" if x.ci else ""
    return f"{x.value:.3f}{lo_hi}"


def evals_section(res: RunResults) -> str:
    with_ci = has_ci(x for e in res.evals for x in e.scores.values())
    intro = ("Every held-out evaluation with each model's score" + (" and 95 % CI" if with_ci else "")
             + ". The organism's suite uses templates, formats and domains kept out of the trait "
             "training data.")
    if not res.evals:
        return section("evals", "Evaluations", missing("per-eval scores"), intro)
    name = Names(res).label
    models = list(dict.fromkeys(m for e in res.evals for m in e.scores))
    rows = [[esc(e.id), esc(e.family), esc(", ".join(e.domains)), esc(e.format or ""),
             esc(e.metric) + ("" if e.higher_is_better else " ↓"), str(e.n),
             *(_vci(e.scores.get(m)) for m in models)] for e in res.evals]
    head = ["eval", "family", "domains", "format", "metric", "n", *(esc(name(m)) for m in models)]
    families = len({e.family for e in res.evals})
    lower = " A ↓ after the metric means lower is better." if any(not e.higher_is_better for e in res.evals) else ""
    body = (f"<p>{len(res.evals)} evaluations in {families} families, scored for "
            f"{len(models)} model(s): {esc(', '.join(name(m) for m in models))}.{lower}</p>")
    body += details(f"Show all {len(res.evals)} evaluations",
                    table(head, rows, numeric=tuple(range(5, 6 + len(models)))))
    return section("evals", "Evaluations", body, intro)


def _final_values(res: RunResults, names: Names) -> str:
    """`final_rewards` of every arm, one row per recorded quantity (as named in results.json)."""
    keys = list(dict.fromkeys(k for a in res.arms.values() for k in a.final_rewards))
    if not keys:
        return ""
    rows = [[esc(k.replace("_", " ")), *(num(a.final_rewards.get(k)) for a in res.arms.values())]
            for k in keys]
    head = ["at the end of training", *(esc(names.label(k)) for k in res.arms)]
    return "<h3>Final values</h3>" + table(head, rows, numeric=tuple(range(1, len(head))))


def _judge_table(res: RunResults, names: Names) -> str:
    """The LLM judge's work per arm (requests, cache hits, failures, tokens) and the unscored share."""
    judged = {k: a for k, a in res.arms.items() if a.judge is not None}
    if not judged:
        return ""
    rows = [[esc(names.label(k)), esc(a.judge.model), f"{a.judge.temperature:g}", f"{a.judge.requests:,}",
             f"{a.judge.cache_hits:,}", f"{a.judge.failures:,}", f"{a.judge.prompt_tokens:,}",
             f"{a.judge.completion_tokens:,}", "—" if a.unscored_rate is None else f"{100 * a.unscored_rate:.1f} %"]
            for k, a in judged.items() if a.judge is not None]
    head = ["arm", "judge", "temperature", "requests", "cache hits", "failures", "prompt tokens",
            "completion tokens", "unscored rewards"]
    return "<h3>LLM judge in training</h3>" + table(head, rows, numeric=tuple(range(2, len(head))))


def arms_section(res: RunResults) -> str:
    intro = ("The RL arms share one pipeline, one number of optimizer steps and rollouts; only "
             "the data mixture differs. Equal generated tokens and steps are what make the "
             "baseline compute-matched.")
    body = ""
    if res.arms:
        names = Names(res)
        check = compute_sentence(res)
        if check:
            body += f"<p>In this run, {esc(check)}</p>"
        seeds = any(a.seed is not None for a in res.arms.values())
        # with a seed column, the arm column names the arm alone
        rows = [[esc(label(names.arm(key)) if seeds else names.label(key)),
                 *([str(a.seed) if a.seed is not None else "—"] if seeds else []),
                 esc(trait_data(names.arm(key), a)),
                 "—" if a.trait_fraction is None else f"{100 * a.trait_fraction:.0f} %",
                 "—" if a.optimizer_steps is None else f"{a.optimizer_steps:,}",
                 "—" if a.generated_tokens is None else f"{a.generated_tokens:,}", duration(a.wall_s)]
                for key, a in res.arms.items()]
        head = ["arm", *(["seed"] if seeds else []), "trait data from", "trait share",
                "optimizer steps", "generated tokens", "wall time"]
        body += table(head, rows, numeric=tuple(range(2 + seeds, len(head))))
        body += _final_values(res, names)
        body += _judge_table(res, names)
    else:
        body += missing("arm statistics")
    body += "<h3>Models</h3>"
    if res.models:
        name = Names(res).label
        body += table(["stage", "model folder"],
                      [[esc(name(k)), f"<code>{esc(v)}</code>"] for k, v in res.models.items()])
    else:
        body += missing("model folders")
    return section("arms", "Arms and compute", body, intro)


def _timing_rows(stages: dict[str, float], total: float) -> list[list[str]]:
    return [[esc(name), duration(s), f"{100 * s / total:.0f} %",
             f'<span class="bar" style="width:{max(2, round(320 * s / total))}px"></span>']
            for name, s in stages.items()]


def timings_section(res: RunResults) -> str:
    """Wall time per kind of stage (train, eval, curve, ...), every stage in a fold-out table."""
    t = res.timings
    if t is None or (not t.stages() and t.total_s is None):
        return section("timings", "Timings", missing("stage timings"))
    stages = {k.removesuffix("_s").replace("_", " "): v for k, v in t.stages().items()}
    total = t.total_s or sum(stages.values()) or 1.0
    groups: dict[str, list[float]] = {}
    for name, sec in stages.items():
        groups.setdefault(name.split(" ", 1)[0], []).append(sec)
    grouped = {(g if len(v) == 1 else f"{g} ({len(v)} stages)"): sum(v) for g, v in groups.items()}
    head = ["stage", "wall time", "share", ""]
    total_row = ["<b>total</b>", f"<b>{duration(t.total_s)}</b>", "", ""]
    body = table(head, [*_timing_rows(grouped, total), total_row], numeric=(1, 2))
    if len(grouped) < len(stages):
        body += details(f"All {len(stages)} stages", table(head, _timing_rows(stages, total), numeric=(1, 2)))
    return section("timings", "Timings", body)


def environment_section(res: RunResults) -> str:
    env = res.environment
    if env is None:
        return section("environment", "Environment", missing("environment record"))
    facts = [("python", env.python), ("platform", env.platform), ("device", env.device),
             ("CPU cores", env.cpu_count), ("torch threads", env.threads)]
    left = kv_table([(k, esc(v)) for k, v in facts if v is not None])
    right = table(["package", "version"],
                  [[esc(k), esc(v or "not installed")] for k, v in env.packages.items()])
    meta = res.meta
    prov = ""
    if meta is not None:
        items = [("config hash", meta.config_hash), ("config", meta.config_path),
                 ("seeds", ", ".join(map(str, meta.seeds)) or None), ("finished", meta.created_at),
                 *((f"count: {k.replace('_', ' ')}", f"{v:,}") for k, v in meta.counts.items())]
        prov = "<h3>Run</h3>" + kv_table([(esc(k), esc(v)) for k, v in items if v])
    body = f'<div class="grid2"><div>{left}{prov}</div><div>{right}</div></div>'
    return section("environment", "Environment", body)


def appendix_sections(res: RunResults) -> list[tuple[str, str, str]]:
    return [
        ("evals", "Evaluations", evals_section(res)),
        ("arms", "Arms", arms_section(res)),
        ("timings", "Timings", timings_section(res)),
        ("environment", "Environment", environment_section(res)),
    ]
