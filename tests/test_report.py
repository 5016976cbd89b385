"""The run report: results.json schema, figures, CSVs, the HTML page, and `traitrl report`."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from traitrl.commands.report import report_command
from traitrl.errors import UserError
from traitrl.evals.results import EvalResult, EvalResults, ItemRecord
from traitrl.evals.scoreboard import read_scoreboard_csv
from traitrl.report import (
    build_report,
    collect_environment,
    eval_scores,
    load_run_results,
    save_run_results,
)
from traitrl.report.schema import RunResults, parse_run_results
from traitrl.report.summary import findings, transfer_rows
from tests.helpers.synthetic import make_partial_results, make_synthetic_results

SECTIONS = ("summary", "scoreboard", "training", "transfer", "prompting", "finetuning", "evals",
            "arms", "timings", "environment")  # fmt: skip
FIGURES = ("scoreboard", "training_curves", "prompting", "finetuning")
CHROMIUM = Path("/usr/bin/chromium")


def write_run(tmp_path: Path, data: dict, name: str = "run") -> Path:
    run = tmp_path / name
    run.mkdir(parents=True, exist_ok=True)
    (run / "results.json").write_text(json.dumps(data), encoding="utf-8")
    return run


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[Path, dict, str]:
    data = make_synthetic_results()
    run = write_run(tmp_path_factory.mktemp("report"), data)
    out = build_report(run)
    return run, data, out.read_text(encoding="utf-8")


# ---- schema ----


def test_synthetic_results_validate_and_round_trip():
    data = make_synthetic_results()
    res = RunResults.model_validate(data)
    assert len(res.evals) == 53 and len(res.arms) == 4
    assert set(res.scoreboard.available()) == {
        "trait_vs_baseline", "health_only_vs_baseline", "no_health_science_vs_baseline"}  # fmt: skip
    verdicts = {r.verdict for r in res.scoreboard.trait_vs_baseline.rows()}
    assert verdicts == {"improved", "regressed", "no_change"}
    assert res.scoreboard.trait_vs_baseline.uninformative
    assert RunResults.model_validate_json(res.to_json()) == res
    assert res.timings.total_s and res.timings.stages()["evals_s"] == 640.3


def test_every_section_is_optional():
    res = RunResults.model_validate({})
    assert res.scoreboard.available() == {} and res.persistence.prompting is None
    RunResults.model_validate(make_partial_results())


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"schema_version": 2}, "schema_version"),
        ({"scoreboards": {}}, "scoreboards"),  # a typo must not silently drop a section
        ({"training_curves": {"trait": {"steps": [0, 1], "in_distribution_trait_score": [0.1],
                                        "out_of_distribution_score": [0.1, 0.2]}}},
         "training_curves.trait"),  # fmt: skip
        ({"persistence": {"finetuning": {"doses": [0, 1], "models": {
            "trait": {"health": [{"value": 0.5}], "non_health": [{"value": 0.5}] * 2}}}}},
         "persistence.finetuning"),  # fmt: skip
        ({"timings": {"evals_s": "slow"}}, "timings.evals_s"),
        ({"evals": [{"id": "a", "family": "f", "metric": "m", "n": 1}] * 2}, "appears more than once"),
    ],
)
def test_invalid_results_name_the_problem(patch, where):
    with pytest.raises(UserError, match="results.json") as e:
        parse_run_results({"schema_version": 1, **patch}, "runs/x/results.json")
    assert where in str(e.value)


def test_missing_or_broken_results_file(tmp_path):
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "results.json"))):
        build_report(tmp_path)
    (tmp_path / "results.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="not valid JSON"):
        build_report(tmp_path)
    (tmp_path / "results.json").write_text("[]", encoding="utf-8")
    with pytest.raises(UserError, match="expected a JSON object"):
        load_run_results(tmp_path / "results.json")
    assert not (tmp_path / "report.html").exists()


def test_eval_scores_from_eval_results_and_save(tmp_path):
    def results(model: str, scores: list[float | None]) -> EvalResults:
        items = [ItemRecord(item_id=f"i{k}", score=x) for k, x in enumerate(scores)]
        ev = EvalResult.from_items(id="welfare.distress.health", family="welfare", domains=["health"],
                                   format="freeform", metric="aligned_score", items=items)  # fmt: skip
        return EvalResults(model=model, evals=[ev])

    evals = eval_scores({"base": results("base", [1, 0, None, 0]), "trait": results("trait", [1, 1, 1, 0])})
    assert len(evals) == 1 and evals[0].health and evals[0].n == 4
    assert evals[0].scores["base"].value == pytest.approx(1 / 3) and evals[0].scores["base"].n == 3
    assert evals[0].scores["trait"].value == 0.75
    res = RunResults(evals=evals, environment=collect_environment(probe_torch=False))
    save_run_results(tmp_path / "results.json", res)
    assert load_run_results(tmp_path / "results.json") == res


def test_collect_environment():
    env = collect_environment(probe_torch=False)
    assert env.python and env.cpu_count and env.cpu_count >= 1
    assert {"torch", "transformers", "trl", "peft"} <= set(env.packages)
    assert env.packages["traitrl"]


# ---- the report ----


def test_headline_counts_come_from_the_data(full_run):
    _, data, html = full_run
    sb = data["scoreboard"]["trait_vs_baseline"]
    rows = sb["evals"]
    improved = sum(r["verdict"] == "improved" for r in rows)
    holm = sum(r["verdict_holm"] == "improved" for r in rows)
    regressed = sum(r["verdict"] == "regressed" for r in rows)
    assert (improved, len(rows), regressed) == (sb["improved"], sb["n"], sb["regressed"])
    text = (f"Trait RL improved {improved} of {len(rows)} held-out evaluations versus the "
            f"compute-matched baseline (Holm: {holm} of {len(rows)}), regressed {regressed}.")  # fmt: skip
    assert text in html
    # it leads: the headline is the first paragraph of the summary, the first section
    assert html.index(text) < html.index('id="scoreboard"') < html.index('id="training"')
    assert 0 < regressed < improved < len(rows) < 53


def test_report_is_self_contained_with_every_section(full_run):
    run, _, html = full_run
    assert "http://" not in html and "https://" not in html
    assert not re.findall(r'(?:src|href)="(?!data:|#)', html)  # only data URIs and anchors
    assert "<script" not in html and "<link" not in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(FIGURES)
    embedded = {base64.b64decode(i) for i in images}
    for name in FIGURES:
        png = (run / "plots" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and png in embedded
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html
    assert "Not available" not in html
    for phrase in ("Domain transfer", "held out", "unseen harmful", "Harmful fine-tuning",
                   "generated tokens", "total", "2.13.0+cpu", "models/no_health_science"):  # fmt: skip
        assert phrase in html


def test_csvs_beside_the_report(full_run):
    run, data, _ = full_run
    for key, sb in data["scoreboard"].items():
        rows = read_scoreboard_csv(run / f"scoreboard_{key}.csv")
        assert [r.id for r in rows] == [r["id"] for r in sb["evals"] + sb["uninformative"]]
    lines = (run / "evals.csv").read_text().splitlines()
    assert len(lines) == 1 + 53 and lines[0].startswith("id,family,domains")
    assert "trait_ci_lo" in lines[0]
    for name in ("arms.csv", "training_curves.csv", "prompting.csv", "finetuning.csv"):
        assert (run / name).stat().st_size > 0


def test_findings_match_the_scoreboards():
    res = RunResults.model_validate(make_synthetic_results(seed=3))
    text = " ".join(s for _, s in findings(res))
    ho = res.scoreboard.health_only_vs_baseline.non_health
    nhs = res.scoreboard.no_health_science_vs_baseline.health
    assert f"health only still improved {ho.improved} of {ho.n} non-health" in text
    assert f"without health or science still improved {nhs.improved} of {nhs.n} health" in text
    rows = {r.arm: r for r in transfer_rows(res)}
    assert rows["health_only"].held_out == "non_health"
    assert rows["no_health_science"].held_out == "health" and rows["trait"].held_out is None


def test_rebuild_is_deterministic(full_run, tmp_path):
    run, data, html = full_run
    again = write_run(tmp_path, data)
    assert build_report(again).read_text(encoding="utf-8") == html
    for name in FIGURES:
        assert (again / "plots" / f"{name}.png").read_bytes() == (run / "plots" / f"{name}.png").read_bytes()


def test_partial_run_renders_missing_sections(tmp_path):
    run = write_run(tmp_path, make_synthetic_results())
    build_report(run)
    (run / "results.json").write_text(json.dumps(make_partial_results()), encoding="utf-8")
    html = build_report(run).read_text(encoding="utf-8")
    sb = make_partial_results()["scoreboard"]["trait_vs_baseline"]
    assert f"Trait RL improved {sb['improved']} of {sb['n']}" in html
    for what in ("training curves", "adversarial-prompting results", "harmful fine-tuning results",
                 "stage timings", "environment record"):  # fmt: skip
        assert f"Not available in this run: {what}" in html
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html
    # a rebuild leaves no stale figure or CSV from the fuller build before it
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["scoreboard.png"]
    assert not (run / "scoreboard_health_only_vs_baseline.csv").exists()
    assert not (run / "prompting.csv").exists() and (run / "scoreboard_trait_vs_baseline.csv").exists()


def test_empty_results_still_render(tmp_path):
    run = write_run(tmp_path, {"schema_version": 1}, name="empty-run")
    html = build_report(run).read_text(encoding="utf-8")
    assert "scoreboard is not available in this run" in html
    assert html.count("Not available in this run") >= 8
    assert "<h1>empty-run</h1>" in html  # the folder names the run when meta does not


def test_text_from_results_is_escaped(tmp_path):
    data = make_partial_results()
    data["meta"]["notes"] = ["<img src=x onerror=alert(1)>"]
    data["models"]["trait"] = "models/<trait>"
    html = build_report(write_run(tmp_path, data)).read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "models/&lt;trait&gt;" in html


def test_report_command(tmp_path):
    app = typer.Typer()
    app.command()(report_command)
    run = write_run(tmp_path, make_partial_results())
    result = CliRunner().invoke(app, [str(run)])
    assert result.exit_code == 0, result.output
    assert "Trait RL improved" in result.output and (run / "report.html").is_file()
    bad = CliRunner().invoke(app, [str(tmp_path / "nope")])
    assert isinstance(bad.exception, UserError) and "not found" in str(bad.exception)


# ---- in a real browser ----


def screenshot(html: Path, png: Path, profile: Path, height: int = 4000) -> None:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png}",
           f"--window-size=1280,{height}", html.resolve().as_uri()]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=180)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(full_run, tmp_path):
    from matplotlib.image import imread

    run, _, _ = full_run
    png = tmp_path / "report.png"
    screenshot(Path(shutil.copy(run / "report.html", tmp_path / "report.html")), png, tmp_path / "profile")
    assert png.stat().st_size > 10_000
    img = imread(png)[..., :3]
    assert img.shape[:2] == (4000, 1280)
    assert img.std() > 0.05  # not a blank page
    assert len(np.unique((img[::8, ::8] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50
    # the page's own styling rendered: the dark header band (#1d2733) at the top
    assert np.allclose(img[20, 20], np.array([0x1D, 0x27, 0x33]) / 255, atol=0.03)
    # and the embedded figures loaded: the forest plot's verdict green (#2e7d32) appears
    green = np.all(np.abs(img - np.array([0x2E, 0x7D, 0x32]) / 255) < 0.04, axis=-1)
    assert green.sum() > 200
