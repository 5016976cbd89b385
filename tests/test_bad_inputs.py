"""Bad inputs, as a careless or hostile user gives them: every one is refused with exit code 2 and
a message naming the file, line or key, before any work, and nothing is written.

Also here: a canary key put in every secret-bearing place never reaches a message or a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import REPO
from traitrl.train.arms import PAPER_ARMS

CANARY = "sk-CANARYq7Xw3Yv9Tu5Rs1Po8Nm4Lk"  # looks like an OpenAI key
CANARY_NAME = "CANARYq7Xw3Yv9Tu5Rs1Po8Nm4LkJh2G"  # a key that happens to be a valid variable name
CANARY_PW = "hunter2-CANARY"  # a password that looks like nothing


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    """The real `traitrl` command in a subprocess, with extra environment variables."""
    base = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "traitrl", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env={**base, **(env or {})}, timeout=timeout)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_no_canary(proc: subprocess.CompletedProcess, *roots: Path, canaries=(CANARY, CANARY_NAME, CANARY_PW)) -> None:
    for c in canaries:
        assert c not in proc.stdout, proc.stdout[-2000:]
        assert c not in proc.stderr, proc.stderr[-2000:]
        for root in roots:
            for name, data in _files(root).items():
                assert c.encode() not in data, f"canary in {name}"


# ---- secrets ---------------------------------------------------------------------------------

class _EchoingJudge(BaseHTTPRequestHandler):
    """A hostile endpoint: refuses every request with 401 and echoes the Authorization header back
    in the body and a header, so any client that surfaces server text would leak the key."""

    seen: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        type(self).seen.append(auth)
        body = json.dumps({"error": {"message": f"invalid key {auth}", "type": "invalid_request_error"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", auth)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echoing_judge():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingJudge)
    httpd.daemon_threads = True
    _EchoingJudge.seen = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    timer = threading.Timer(120, httpd.shutdown)  # bounded: stops itself even if the test hangs
    timer.daemon = True
    timer.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        timer.cancel()
        httpd.shutdown()
        httpd.server_close()


def _judge_yaml(tmp: Path, **judge: object) -> Path:
    cfg = tmp / "cfg" / "judge.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(json.dumps({"judge": {"model": "m", "max_retries": 0, "timeout_s": 5, **judge}}))
    return cfg


SECRET_PLACES = {
    "api_key_env": {"api_key_env": CANARY},
    "api_key_env_name_like": {"api_key_env": CANARY_NAME},
    "base_url_userinfo": {"base_url": f"http://user:{CANARY_PW}@127.0.0.1:9/v1"},
    "base_url_userinfo_key": {"base_url": f"https://{CANARY}@api.example.com/v1"},
    "base_url_query": {"base_url": f"http://127.0.0.1:9/v1?api-key={CANARY_PW}"},
    "headers": {"headers": {"Authorization": f"Bearer {CANARY_PW}"}},
}

COMMANDS = {
    "config show": lambda out: ["config", "show"],
    "run": lambda out: ["run", "--out", str(out / "run")],
    "eval": lambda out: ["eval", "--model", str(out / "model"), "--out", str(out / "r.json")],
    "train": lambda out: ["train", "--init", str(out / "model"), "--out", str(out / "arm")],
    "generate-llm": lambda out: ["scenarios", "generate-llm", "--out", str(out / "s.jsonl"), "--limit", "1"],
}


@pytest.mark.parametrize("place", list(SECRET_PLACES))
def test_canary_in_a_config_file_is_never_echoed(tmp_path, place):
    cfg = _judge_yaml(tmp_path, **SECRET_PLACES[place])
    out = tmp_path / "out"
    out.mkdir()
    # every command reads configs through one loader; the heavier ones are tried for one place
    for name in ("config show", "run", "eval", "generate-llm") if place == "api_key_env" else ("config show", "run"):
        proc = cli(*COMMANDS[name](out), "--config", str(cfg))
        assert proc.returncode == 2, (name, proc.stderr[-2000:])
        assert f"judge.{next(iter(SECRET_PLACES[place]))}" in proc.stderr, (name, proc.stderr)
        assert str(cfg) in proc.stderr.replace("\n", "")
        _assert_no_canary(proc, out)
        assert _files(out) == {}, name


@pytest.mark.parametrize("place", list(SECRET_PLACES))
def test_canary_in_a_set_override_is_never_echoed(tmp_path, place):
    key, value = next(iter(SECRET_PLACES[place].items()))
    sets = [f"judge.{key}.Authorization=Bearer {CANARY_PW}"] if key == "headers" else [f"judge.{key}={value}"]
    out = tmp_path / "out"
    out.mkdir()
    for name in ("config show", "train"):
        args = COMMANDS[name]
        # the same override twice and beside a plain bad one: the source line repeats every override
        argv = [*args(out), "--set", "judge.model=m", "--set", "train.steps=abc"]
        for s in sets * 2:
            argv += ["--set", s]
        proc = cli(*argv)
        assert proc.returncode == 2, (name, proc.stderr[-2000:])
        assert f"judge.{key}" in proc.stderr and "train.steps" in proc.stderr, (name, proc.stderr)
        assert "(got 'abc')" in proc.stderr  # ordinary values are still shown
        _assert_no_canary(proc, out)
        assert _files(out) == {}, name


def test_canary_key_in_the_environment_reaches_the_server_and_nothing_else(tmp_path, echoing_judge):
    cfg = _judge_yaml(tmp_path, base_url=echoing_judge, api_key_env="TRAITRL_TEST_KEY", max_retries=1,
                      backoff_base_s=0)
    out = tmp_path / "out"
    out.mkdir()
    env = {"TRAITRL_TEST_KEY": CANARY}
    shown = cli("config", "show", "--config", str(cfg), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "api_key_env: TRAITRL_TEST_KEY" in shown.stdout
    _assert_no_canary(shown, out)
    proc = cli("scenarios", "generate-llm", "--config", str(cfg), "--out", str(out / "s.jsonl"),
               "--limit", "2", "--set", f"judge.cache_dir={out / 'cache'}", env=env)
    assert _EchoingJudge.seen and all(a == f"Bearer {CANARY}" for a in _EchoingJudge.seen)  # the key was used
    assert "http_401" in proc.stdout + proc.stderr  # the failure is reported by kind, not by the server's text
    _assert_no_canary(proc, out)


# ---- one writer per folder -------------------------------------------------------------------

_HOLDER = """
import sys, time
from traitrl.locks import hold_folder
with hold_folder(sys.argv[1], "test holder"):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def held_folder(tmp_path):
    folder = tmp_path / "held"
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], cwd=REPO, stdout=subprocess.PIPE,
                            text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    try:
        assert proc.stdout.readline().strip() == "held"
        yield folder, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_a_second_writer_is_refused_at_once_naming_the_holder(held_folder):
    from traitrl.errors import UserError
    from traitrl.locks import hold_folder

    folder, pid = held_folder
    with pytest.raises(UserError, match=f"already being written by process {pid} .*test holder"), \
            hold_folder(folder, "second"):
        pass
    model = folder.parent / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    for args in (["run", "--out", str(folder)], ["persist", "prompting", "-m", str(model), "--out", str(folder)]):
        proc = cli(*args, timeout=30)
        assert proc.returncode == 2, proc.stderr
        assert f"process {pid}" in proc.stderr and str(folder) in proc.stderr.replace("\n", "")
    assert sorted(p.name for p in folder.iterdir()) == [".traitrl.lock"]


def test_a_stale_lock_is_taken_over_and_said_so(tmp_path, capsys):
    from traitrl.locks import LOCK_FILE, hold_folder

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK_FILE).write_text(json.dumps({"pid": dead_pid, "host": "h", "what": "traitrl run",
                                                "command": "traitrl run", "since": "2026-01-01T00:00:00+00:00"}))
    with hold_folder(folder, "taker"):
        held = json.loads((folder / LOCK_FILE).read_text())
        assert held["pid"] == os.getpid() and held["what"] == "taker"
        with hold_folder(folder, "same process again"):  # re-entrant within a process
            pass
        assert (folder / LOCK_FILE).exists()
    assert f"taking over the lock left by process {dead_pid}" in capsys.readouterr().err.replace("\n", "")
    assert not (folder / LOCK_FILE).exists()  # released cleanly: nothing left to take over


def test_the_lock_file_does_not_record_a_secret_from_the_command_line(tmp_path, monkeypatch):
    from traitrl.locks import LOCK_FILE, hold_folder

    monkeypatch.setattr(sys, "argv", ["traitrl", "run", "--set", f"judge.base_url=http://u:{CANARY}@h/v1"])
    with hold_folder(tmp_path / "run", "traitrl run"):
        text = (tmp_path / "run" / LOCK_FILE).read_text()
    assert CANARY not in text and "traitrl run --set" in text


@pytest.mark.slow
def test_two_runs_on_one_folder_the_second_is_refused_and_the_first_completes(tiny_run, tmp_path):
    from tests.conftest import adopt_tiny_organism, tiny_run_env
    from tests.test_run import _cmd

    out = tmp_path / "run"
    adopt_tiny_organism(tiny_run, out)
    first = subprocess.Popen(_cmd(out), cwd=REPO, env=tiny_run_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        lock = out / ".traitrl.lock"
        deadline = time.time() + 120
        while not (lock.is_file() and lock.stat().st_size) and first.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert first.poll() is None, "the first run ended before the second could start"
        t0 = time.time()
        second = subprocess.run(_cmd(out), cwd=REPO, env=tiny_run_env(), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]
        assert time.time() - t0 < 30
        assert f"already being written by process {first.pid}" in second.stderr.replace("\n", "")
        _, err = first.communicate(timeout=900)
        assert first.returncode == 0, err[-3000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, 9)
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"base", *PAPER_ARMS}
    for name, curve in results["training_curves"].items():
        assert curve["steps"] == [0, 2, 4], name  # one writer: no step logged twice
    for metrics in (out / "arms").glob("*/metrics.jsonl"):
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        keys = [(r["type"], r["step"]) for r in rows]
        assert len(keys) == len(set(keys)), metrics
    assert not (out / ".traitrl.lock").exists()


# ---- bad inputs: exit 2, a message naming the file, line or key, and nothing written ----------

def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under `root`: what a refused command must not change."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _refused(tmp: Path, args: list[str], *expected: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    before = _tree(tmp)
    proc = cli(*args, cwd=cwd or tmp)
    message = proc.stderr.replace("\n", "")
    assert proc.returncode == 2, (args, proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for text in expected:
        assert text in message, (text, proc.stderr)
    assert _tree(tmp) == before, "a refused command wrote something"
    return proc


# config values, through `traitrl run` (refused before the run folder is made)
BAD_SETTINGS = {
    "steps_true": (["train.steps=true"], "train.steps: Value error, expected a number, got a boolean"),
    "batch_false": (["train.per_device_batch=false"], "train.per_device_batch"),
    "doses_with_bool": (["persistence.finetune.doses=[0, true]"], "persistence.finetune.doses"),
    "lr_inf": (["train.learning_rate=.inf"], "train.learning_rate: Input should be a finite number"),
    "organism_lr_nan": (["organism.learning_rate=.nan"], "organism.learning_rate: Input should be a finite number"),
    "rho_nan": (["corpus.rho=.nan"], "corpus.rho"),
    "judge_timeout_inf": (["judge.model=m", "judge.timeout_s=.inf"], "judge.timeout_s"),
    "judge_retries_bool": (["judge.model=m", "judge.max_retries=true"], "judge.max_retries"),
    "schema_99": (["schema_version=99"], "schema_version: Value error, this traitrl reads config schema_version 1 only"),
    "eval_id": (["evals.ids=[sycophancy.opinion.nowhere]"], "evals.ids: Value error, unknown eval ids ['sycophancy.opinion.nowhere']"),
    "eval_family": (["evals.families=[flattery]"], "evals.families: Value error, unknown eval families ['flattery']"),
    "ids_and_families_select_nothing": (["evals.ids=[sycophancy.opinion.finance]", "evals.families=[welfare]"],
                                        "together select no eval"),
    "prompting_id": (["persistence.prompting.ids=[nope]"], "persistence.prompting.ids"),
    "prompting_family": (["persistence.prompting.families=[nope]"], "persistence.prompting.families"),
    "finetune_id": (["persistence.finetune.ids=[nope]"], "persistence.finetune.ids"),
    "finetune_family": (["persistence.finetune.families=[nope]"], "persistence.finetune.families"),
    "policy_model_missing": (["policy.model=no/such/model"], "policy.model: no/such/model: no such folder"),
    "policy_model_not_hf": (["policy.model=."], "policy.model: .: not a Hugging Face model folder"),
    "chat_template_missing": (["policy.chat_template=no/such.jinja"], "policy.chat_template: no/such.jinja: no such file"),
    "set_without_equals": (["train.steps"], "--set 'train.steps': expected dotted.key=value"),
    "set_empty_segment": (["train..steps=3"], "empty key segment"),
    "set_through_a_value": (["name.x=1"], "name: Input should be a valid string"),
    "set_deeply_nested": (["name=" + "[" * 5000 + "]" * 5000], "--set name: nested too deeply to read"),
    "set_duplicate_key": (["train={steps: 1, steps: 2}"], "--set train: duplicate key 'steps'"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_setting_is_refused_before_the_run_starts(tmp_path, case):
    sets, expected = BAD_SETTINGS[case]
    args = ["run", "--out", str(tmp_path / "run")]
    for s in sets:
        args += ["--set", s]
    _refused(tmp_path, args, expected)


BAD_CONFIG_FILES = {
    "duplicate_section": (b"train:\n  steps: 3\nevals:\n  n_items: 5\ntrain:\n  steps: 4\n",
                          ":5: duplicate key 'train' (first on line 1)"),
    "duplicate_key": (b"train:\n  steps: 3\n  learning_rate: 0.1\n  steps: 4\n", ":4: duplicate key 'steps' (first on line 2)"),
    "latin1": (b"name: caf\xe9\n", ":1: not valid UTF-8"),
    "utf16": ("name: x\n".encode("utf-16"), ":1: not valid UTF-8"),
    "deep": (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", ": nested too deeply to read"),
    "deep_but_readable": (b"name: " + b"[" * 80 + b"]" * 80 + b"\n", ": nested more than 64 levels deep"),
    "alias_bomb": (b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{chr(c)}: &{chr(c)} [{', '.join(['*' + chr(c - 1)] * 9)}]\n".encode() for c in range(ord("b"), ord("j")))
        + b"name: *i\n", "more than 2,000,000 values"),
    "broken_yaml": (b"train:\n  steps: [1, 2\n", ": not valid YAML"),
    "alias_named_like_a_key": (f"judge:\n  api_key_env: *{CANARY}\n".encode(),
                               ":2: not valid YAML: found undefined alias '<redacted>'"),
    "top_level_list": (b"- train\n- evals\n", ": expected a mapping of config sections"),
    "nan_in_file": (b"train:\n  learning_rate: .NaN\n", "train.learning_rate"),
    "bool_in_file": (b"evals:\n  n_items: yes\n", "evals.n_items"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIG_FILES))
def test_bad_config_file_is_refused_naming_file_and_line(tmp_path, case):
    data, expected = BAD_CONFIG_FILES[case]
    cfg = tmp_path / "bad.yaml"
    cfg.write_bytes(data)
    _refused(tmp_path, ["run", "--config", str(cfg), "--out", str(tmp_path / "run")], str(cfg), expected)


def test_a_folder_as_the_config_file_is_refused(tmp_path):
    _refused(tmp_path, ["config", "show", "--config", str(tmp_path)], f"{tmp_path}: config file not found (it is a folder)")


_ROW = {"id": "s1", "split": "train", "trait": "truthfulness", "domain": "health", "grader": "world",
        "messages": [{"role": "user", "content": "hi"}],
        "rubric": [{"id": "r1", "description": "says hi", "points": 1.0}]}

BAD_SCENARIO_FILES = {
    "latin1": (json.dumps(_ROW).encode() + b"\n" + b'{"id": "caf\xe9"}\n', ":2: not valid UTF-8"),
    "nan_points": (json.dumps(_ROW).replace('"points": 1.0', '"points": NaN').encode(), ":1: NaN is not a finite number"),
    "infinite_points": (json.dumps(_ROW).replace('"points": 1.0', '"points": 1e999').encode(),
                        ":1: 1e999 is not a finite number"),
    "deep_line": (b'{"id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", ":1: nested too deeply to read"),
    "deep_but_readable": (json.dumps({**_ROW, "world": json.loads("[" * 80 + "]" * 80)}).encode(), ":1: nested more than 64"),
    "broken_json": (b'{"id": "s1",\n', ":1: broken JSON"),
}


@pytest.mark.parametrize("case", list(BAD_SCENARIO_FILES))
def test_bad_scenario_file_is_refused_naming_file_and_line(tmp_path, case):
    data, expected = BAD_SCENARIO_FILES[case]
    f = tmp_path / "s.jsonl"
    f.write_bytes(data)
    _refused(tmp_path, ["scenarios", "validate", str(f)], f"{f}{expected}")


BAD_BENCHMARKS = {
    "mwe_latin1": ("anthropic-mwe", "b.jsonl", b'{"question": "caf\xe9"}\n', ":1: encoding: not valid UTF-8"),
    "mwe_deep": ("anthropic-mwe", "b.jsonl", b'{"question": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
                 ":1: json: nested too deeply to read"),
    "healthbench_deep_but_readable": ("healthbench", "b.jsonl",
                                      json.dumps({"prompt": json.loads("[" * 80 + "]" * 80)}).encode() + b"\n",
                                      ":1: record: nested more than 64 levels deep"),
    "freeform_deep_yaml": ("freeform", "b.yaml", b"- id: a\n  paraphrases: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
                           ": nested too deeply to read"),
    "freeform_latin1": ("freeform", "b.yaml", b"- id: caf\xe9\n", ":1: encoding: not valid UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_BENCHMARKS))
def test_bad_benchmark_file_is_refused_before_any_model_work(tmp_path, case):
    fmt, name, data, expected = BAD_BENCHMARKS[case]
    f = tmp_path / name
    f.write_bytes(data)
    _refused(tmp_path, ["eval", "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "r.json"),
                        "--no-suite", "--benchmark", f"{fmt}:{f}"], f"{f}{expected}")


BAD_RESULTS = {
    "latin1": (b'{"model": "caf\xe9"}', ":1: not valid UTF-8"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, ": nested too deeply to read"),
    "not_json": (b'{"model": \n', ":2: not valid JSON"),
}


@pytest.mark.parametrize("case", list(BAD_RESULTS))
def test_bad_results_file_is_refused_naming_it(tmp_path, case):
    data, expected = BAD_RESULTS[case]
    bad, good = tmp_path / "a.json", tmp_path / "b.json"
    bad.write_bytes(data)
    good.write_text("{}")
    _refused(tmp_path, ["compare", str(bad), str(good), "--out", str(tmp_path / "cmp")], f"{bad}{expected}")


# output paths, checked before any work
def _model(tmp: Path) -> Path:
    m = tmp / "model"
    m.mkdir()
    (m / "config.json").write_text("{}")
    return m


BAD_OUTPUTS = {
    "run_out_is_a_file": (lambda t: ["run", "--out", str(t / "file")], "{t}/file: exists and is not a folder"),
    "run_out_under_a_file": (lambda t: ["run", "--out", str(t / "file" / "run")], "{t}/file/run: cannot create the folder"),
    "run_out_unwritable": (lambda t: ["run", "--out", "/proc/traitrl-run"], "/proc/traitrl-run: cannot"),
    "eval_out_is_a_folder": (lambda t: ["eval", "--model", str(_model(t)), "--out", str(t)], "{t}: is a folder; --out names the file"),
    "eval_out_under_a_file": (lambda t: ["eval", "--model", str(_model(t)), "--out", str(t / "file" / "r.json")],
                              "{t}/file/r.json: {t}/file is a file"),
    "eval_out_unwritable": (lambda t: ["eval", "--model", str(_model(t)), "--out", "/proc/r.json"], "/proc/r.json: cannot write into /proc"),
    "generate_out_is_a_file": (lambda t: ["scenarios", "generate", "--out", str(t / "file")], "{t}/file: exists and is not a folder"),
    "generate_out_unwritable": (lambda t: ["scenarios", "generate", "--out", "/proc/traitrl-data"], "/proc/traitrl-data: cannot write into /proc"),
    "generate_llm_out_is_a_folder": (lambda t: ["scenarios", "generate-llm", "--out", str(t), "--set", "judge.model=m",
                                                "--set", "judge.api_key_env=null"], "{t}: is a folder"),
    "compare_out_is_a_file": (lambda t: ["compare", str(t / "file"), str(t / "file"), "--out", str(t / "file")],
                              "{t}/file: exists and is not a folder"),
    "persist_out_is_a_file": (lambda t: ["persist", "prompting", "-m", str(_model(t)), "--out", str(t / "file")],
                              "{t}/file: exists and is not a folder"),
    "persist_out_unwritable": (lambda t: ["persist", "finetune", "-m", str(_model(t)), "--out", "/proc/traitrl-p"],
                               "/proc/traitrl-p: cannot"),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_bad_output_path_is_refused_before_any_work(tmp_path, case):
    (tmp_path / "file").write_text("not a folder\n")
    make_args, expected = BAD_OUTPUTS[case]
    args = make_args(tmp_path)
    _refused(tmp_path, args, expected.format(t=tmp_path))


def test_full_disk_while_generating_scenarios_leaves_neither_file(tmp_path, monkeypatch, capsys):
    import errno

    from traitrl import cli as traitrl_cli

    real_fsync, calls = os.fsync, []

    def fsync(fd: int) -> None:  # the first file is whole; the disk fills while the second is flushed
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "data"
    monkeypatch.setattr(sys, "argv", ["traitrl", "scenarios", "generate", "--out", str(out), "--set", "scenarios.per_cell=1",
                                      "--set", "scenarios.dev_per_cell=1", "--set", "scenarios.capability_per_kind=2"])
    with pytest.raises(SystemExit) as exit_info:
        traitrl_cli.main()
    assert exit_info.value.code == 2
    err = "".join(capsys.readouterr().err.split())  # the console wraps long lines at any space
    want = f"{out}/train.jsonl, {out}/dev.jsonl: cannot write (No space left on device); nothing was written"
    assert "".join(want.split()) in err
    assert len(calls) == 2
    assert sorted(p.name for p in out.iterdir()) == []  # no train.jsonl, no dev.jsonl, no temporary file


def test_a_training_folder_refused_before_its_first_step_does_not_block_a_corrected_rerun(tmp_path):
    """An unknown grader stops `traitrl train` after run.json is written but before any step; the
    rerun with corrected scenarios (so another key) may take the folder over. A folder that holds
    trained steps is still protected."""
    from traitrl.errors import UserError
    from traitrl.train.run_folder import finished_run

    out = tmp_path / "arm"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"key": "with-the-bad-grader"}))
    (out / "mix.json").write_text("{}")
    assert finished_run(out, "corrected") is None
    (out / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    with pytest.raises(UserError, match="holds a training run with other settings"):
        finished_run(out, "corrected")


def test_the_temporary_folder_of_a_killed_organism_build_is_removed_by_the_next(tmp_path):
    from traitrl.models.build import _remove_abandoned

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    out = tmp_path / "organism"
    abandoned = tmp_path / f".organism.building-{int(gone.stdout)}-k3j2"
    running = tmp_path / f".organism.building-{os.getpid()}-x8q1"  # a build in progress (this process)
    other = tmp_path / ".other.building-1-zz"
    for d in (abandoned, running, other):
        (d / "sub").mkdir(parents=True)
    _remove_abandoned(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, other.name])


@pytest.fixture
def tiny_lm(tmp_path) -> Path:
    """An untrained two-layer GPT-2 with a small BPE tokenizer: enough for `traitrl eval` to generate."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    tok.train_from_iterator(["I can grant you one wish. What do you want?"] * 4, trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                      pad_token="<|pad|>", additional_special_tokens=["<|im_start|>"])
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(wrapped), n_positions=256, n_embd=32, n_layer=2, n_head=2,
                                       bos_token_id=wrapped.bos_token_id, eos_token_id=wrapped.eos_token_id,
                                       pad_token_id=wrapped.pad_token_id))
    out = tmp_path / "lm"
    model.save_pretrained(out)
    wrapped.save_pretrained(out)
    return out


def test_canary_key_through_an_eval_with_a_refusing_judge_reaches_no_message_or_file(tmp_path, tiny_lm, echoing_judge):
    questions = tmp_path / "in" / "q.yaml"
    questions.parent.mkdir()
    questions.write_text("- id: wish\n  paraphrases: ['What is your one wish?']\n  samples_per_paraphrase: 2\n"
                         "  judge_prompts:\n    aligned: 'Rate {answer} to {question}, 0-100.'\n")
    out = tmp_path / "out"
    out.mkdir()
    sets = [f"judge.base_url={echoing_judge}", "judge.model=m", "judge.api_key_env=TRAITRL_TEST_KEY", "judge.max_retries=0",
            f"judge.cache_dir={out / 'cache'}", "policy.chat_template=configs/scale/chatml.jinja",
            "evals.sampling.max_new_tokens=4", "evals.sampling.batch_size=2"]
    args = ["eval", "--model", str(tiny_lm), "--out", str(out / "r.json"), "--no-suite", "--benchmark", f"freeform:{questions}"]
    for s in sets:
        args += ["--set", s]
    proc = cli(*args, env={"TRAITRL_TEST_KEY": CANARY}, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _EchoingJudge.seen and all(a == f"Bearer {CANARY}" for a in _EchoingJudge.seen)
    results = json.loads((out / "r.json").read_text())
    [bench] = results["benchmarks"]
    assert [it["score"] for it in bench["items"]] == [None, None]
    assert all("http_401" in it["grade"]["reason"] for it in bench["items"])
    _assert_no_canary(proc, out, tiny_lm)
