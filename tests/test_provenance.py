"""Code version of results (digests of the result-determining sources), resume with other code, the shipped-table
check, and fractional GPUs per run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _recipes import save_tiny_recipe

from act_bench.cli import main
from act_bench.engine import Journal, RayExecutor, check_gpus_per_run
from act_bench.errors import InvalidInputError
from data_builders.build import code_version, journal_dir_for, journal_path_for
from data_builders.recipes import get_recipe

REPO = Path(__file__).resolve().parents[1]
_DIGEST = ("import json, sys; from data_builders.build import code_version; from data_builders.recipes import "
           "get_recipe; print(json.dumps(code_version(get_recipe(sys.argv[1])).to_dict()))")


@pytest.fixture(scope="module")
def tiny_recipe_file(tmp_path_factory) -> Path:
    return save_tiny_recipe(tmp_path_factory.mktemp("recipe"))


@pytest.fixture(scope="module")
def other_code(tmp_path_factory) -> Path:
    """A copy of the packages elsewhere with one training file and the model file changed (a comment each)."""
    root = tmp_path_factory.mktemp("other-code")
    for pkg in ("act_bench", "data_builders"):
        shutil.copytree(REPO / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ("data_builders/_schedules.py", "data_builders/models/_cnn.py"):
        with open(root / rel, "a", encoding="utf-8") as fh:
            fh.write("# a change\n")
    return root


def _env(pythonpath: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(pythonpath), "OMP_NUM_THREADS": "1"}


def _cli(args: list[str], pythonpath: Path = REPO) -> subprocess.CompletedProcess:
    # cwd too: ``python -m``/``-c`` put the working directory first on sys.path
    return subprocess.run([sys.executable, "-c", "import sys; from act_bench.cli import main; sys.exit(main())",
                           *args], check=False, capture_output=True, text=True, env=_env(pythonpath), cwd=pythonpath,
                          timeout=600)


def test_digest_hashes_contents_wherever_installed_and_names_the_changed_parts(tmp_path, other_code):
    here = code_version(get_recipe("act-bench-cnn"))
    same = tmp_path / "same"
    for pkg in ("act_bench", "data_builders"):
        shutil.copytree(REPO / pkg, same / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    copied = json.loads(subprocess.run([sys.executable, "-c", _DIGEST, "act-bench-cnn"], capture_output=True,
                                       text=True, env=_env(same), cwd=same, check=True).stdout)
    assert copied["digest"] == here.digest and copied["parts"] == here.parts  # another location, same contents
    changed = json.loads(subprocess.run([sys.executable, "-c", _DIGEST, "act-bench-cnn"], capture_output=True,
                                        text=True, env=_env(other_code), cwd=other_code,
                                        check=True).stdout)
    assert changed["digest"] != here.digest
    assert sorted(p for p in here.parts if here.parts[p] != changed["parts"][p]) == ["model", "training"]
    # the model part follows the recipe's model: the ViT recipe's model is not in the changed file
    vit = code_version(get_recipe("act-bench-vit"))
    assert "data_builders/models/_cnn.py" not in vit.files["model"] and vit.parts["model"] != here.parts["model"]
    assert vit.parts["operators"] == here.parts["operators"] and vit.parts["training"] == here.parts["training"]


def test_resume_with_other_code_is_refused_unless_allowed(tmp_path, tiny_recipe_file, other_code):
    out = tmp_path / "t"
    args = ["build", "--recipe", str(tiny_recipe_file), "--out", str(out), "--limit", "2", "--train-seeds", "1",
            "--max-jobs", "2"]
    first = _cli(args, other_code)  # a partial build by other code
    assert first.returncode == 0, first.stderr
    with Journal.open(journal_path_for(out), readonly=True) as j:
        header = j.config()
    assert header["code"]["digest"] != code_version(get_recipe(str(tiny_recipe_file))).digest
    lines_before = journal_path_for(out).read_bytes()

    refused = _cli([*args[:-2], "--resume"])
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "other code: changed parts model, training" in refused.stderr and "--allow-code-change" in refused.stderr
    assert journal_path_for(out).read_bytes() == lines_before  # nothing written

    allowed = _cli([*args[:-2], "--resume", "--allow-code-change", "--json"])
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["complete"] is True
    with Journal.open(journal_path_for(out), readonly=True) as j:
        changes = j.events("code_change")
    assert len(changes) == 1 and changes[0]["changed"] == ["model", "training"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["code"]["digest"] == header["code"]["digest"] and len(meta["code"]["overrides"]) == 1
    info = _cli(["table", "info", "--table", str(out)])
    assert info.returncode == 0 and "1 accepted code change(s)" in info.stdout and "training: " in info.stdout


def _fake_shipped(tmp_path: Path, recipe, digest: str, pending: str | None, equivalent: str | None = None) -> Path:
    data = tmp_path / "data"
    (data / "tbl").mkdir(parents=True)
    (data / "tbl" / "metadata.json").write_text(json.dumps({"recipe": recipe.to_dict(), "code": {
        "version": "0", "digest": digest, "parts": {"operators": digest}}}))
    if pending is not None:
        (data / "REBUILD_PENDING.yaml").write_text(pending)
    if equivalent is not None:
        (data / "CODE_EQUIVALENT.yaml").write_text(equivalent)
    return data


def test_shipped_table_check_needs_current_code_or_a_reviewed_entry(tmp_path):
    from data_builders._provenance import check_shipped_tables

    recipe = get_recipe("act-bench-mnist1d")
    current = code_version(recipe).digest
    other = "ab" * 32
    cases = [
        (current, None, []),
        (current, f"tbl:\n  digest: '{current}'\n  reason: r\n", ["stale"]),
        (other, None, ["rebuild it, or list it"]),
        (other, f"tbl:\n  digest: '{other}'\n  reason: built before a fix\n", []),
        (other, f"tbl:\n  digest: '{'1' * 64}'\n  reason: r\n", ["must give the table's digest"]),
        (other, f"tbl:\n  digest: '{other}'\n", ["must give the table's digest"]),
        (current, f"gone:\n  digest: '{other}'\n  reason: r\n", ["names no shipped table"]),
    ]
    for i, (digest, pending, expected) in enumerate(cases):
        problems = check_shipped_tables(_fake_shipped(tmp_path / str(i), recipe, digest, pending))
        assert len(problems) == len(expected) and all(e in p for e, p in zip(expected, problems)), (i, problems)


def test_a_code_change_verified_not_to_move_results_is_a_reviewed_equivalence_entry(tmp_path):
    from data_builders._provenance import check_shipped_tables

    recipe = get_recipe("act-bench-mnist1d")
    current = code_version(recipe).digest
    other, older = "ab" * 32, "cd" * 32
    ok = f"tbl:\n  digest: '{other}'\n  current: '{current}'\n  reason: refactor, retrain test identical\n"
    cases = [
        (other, None, ok, []),
        # the code changed again after the verification: stale
        (other, None, f"tbl:\n  digest: '{other}'\n  current: '{older}'\n  reason: r\n", ["verified against code"]),
        (current, None, ok.replace(other, current), ["stale"]),
        (other, None, f"tbl:\n  digest: '{other}'\n  reason: r\n", ["must give the table's digest"]),
        (other, f"tbl:\n  digest: '{other}'\n  reason: r\n", ok, ["listed in both"]),
        (other, None, ok.replace("tbl:", "gone:"), ["names no shipped table", "rebuild it, or list it"]),
    ]
    for i, (digest, pending, equivalent, expected) in enumerate(cases):
        problems = check_shipped_tables(_fake_shipped(tmp_path / str(i), recipe, digest, pending, equivalent))
        assert len(problems) == len(expected) and all(e in p for e, p in zip(expected, problems)), (i, problems)


def test_gpus_per_run_validation_and_cli(tmp_path, tiny_recipe_file, capsys):
    assert check_gpus_per_run(0, 0.0) == 0.0 and check_gpus_per_run(0.25, 1.0) == 0.25
    assert check_gpus_per_run(2, 4.0) == 2.0
    for gpus, available, message in ((1.5, 1.0, r"in \(0, 1\]"), (0.5, 0.0, "sees no GPU"), (-1, 1.0, ">= 0")):
        with pytest.raises(InvalidInputError, match=message):
            check_gpus_per_run(gpus, available)
    with pytest.raises(InvalidInputError, match="gpus_per_run"):
        get_recipe("act-bench-mnist1d").with_overrides(gpus_per_run=1.5)  # > 1 must be whole GPUs
    assert get_recipe("act-bench-mnist1d").with_overrides(gpus_per_run=0.25).gpus_per_run == 0.25
    out = tmp_path / "t"
    import torch

    if not torch.cuda.is_available():  # here: a GPU share asked of a local executor without GPUs is refused
        code = main(["build", "--recipe", str(tiny_recipe_file), "--out", str(out), "--limit", "1", "--train-seeds", "1",
                     "--gpus-per-run", "0.25", "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and "sees no GPU" in err and err.count("\n") == 1
        assert not journal_dir_for(out).exists() and not out.exists()  # nothing half-written
    with pytest.raises(SystemExit) as exc:  # argparse type error
        main(["build", "--recipe", str(tiny_recipe_file), "--out", str(out), "--gpus-per-run", "x"])
    assert exc.value.code == 2 and "--gpus-per-run: must be a number >= 0; got 'x'" in capsys.readouterr().err


def test_ray_packs_fractional_gpu_runs_and_the_run_uses_its_device(tiny_recipe_file):
    import ray

    recipe = get_recipe(str(tiny_recipe_file)).with_overrides(gpus_per_run=0.25)

    def job(recipe_dict):
        import torch

        from data_builders.build import train_run
        from data_builders.recipes import Recipe

        r = train_run(Recipe.from_dict(recipe_dict), "relu(x)", seed=0)
        return {"resources": ray.get_runtime_context().get_assigned_resources(), "device": r.device,
                "cuda": torch.cuda.is_available(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}

    was_running = ray.is_initialized()
    with RayExecutor(num_cpus=4, num_gpus=1) as ex:  # a local Ray that declares one GPU
        try:
            assert ex.gpus == 1.0
            check_gpus_per_run(recipe.gpus_per_run, ex.gpus)
            with pytest.raises(InvalidInputError):
                check_gpus_per_run(2, ex.gpus)
            tickets = [ex.submit(job, recipe.to_dict(), gpus=recipe.gpus_per_run) for _ in range(2)]
            results = {}
            while len(results) < len(tickets):
                results.update(ex.wait(timeout=60))
        finally:
            if not was_running:
                ray.shutdown()
    for res in results.values():
        assert res["resources"] == {"CPU": 1.0, "GPU": 0.25}
        assert res["gpu_ids"] == ["0"]  # both share GPU 0
        assert res["device"] == ("cuda" if res["cuda"] else "cpu")
