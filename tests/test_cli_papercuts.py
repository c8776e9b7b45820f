"""Small CLI papercuts a new user met: help text, early output checks, the names an error shows."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from act_bench.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _walk(parser: argparse.ArgumentParser, prefix: str = "act-bench"):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{prefix} {name}")


def test_every_command_has_a_description_in_its_help():
    missing = [path for path, p in _walk(build_parser()) if not (p.description or "").strip()]
    assert not missing, missing


def test_replay_help_and_the_cli_reference_show_single_percent_signs(capsys):
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    text = capsys.readouterr().out
    assert "%%" not in text and "top 1%/5%" in " ".join(text.split()) and "s % N" in " ".join(text.split())
    assert "%%" not in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("figure", [["map"], ["eigenvalues"]])
def test_plot_rejects_a_non_png_output_before_loading_the_table(figure, tmp_path, capsys):
    # the table does not exist: the output path is what the error must be about, so it was checked first
    code = main(["plot", *figure, "--table", str(tmp_path / "no-such-table"), "--out", str(tmp_path / "x.jpg")])
    err = capsys.readouterr().err
    assert code == 2 and "must end in .png" in err and "no-such-table" not in err


@pytest.mark.parametrize("argv,option", [(["fim", "--model", "resnet56", "relu(x)"], "--model 'resnet56'"),
                                         (["models", "describe", "resnet56"], "NAME 'resnet56'")])
def test_unknown_model_names_the_option_the_user_typed(argv, option, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert option in err and "resnet-56" in err and "create_model" not in err and len(err.splitlines()) == 1


@pytest.fixture
def captured_figures(monkeypatch):
    """The figures the plot functions save (drawn for real with Agg, then kept for inspection)."""
    from evaluation import _plots

    figs = []

    def keep(fig, path):
        figs.append(fig)
        return Path(path)

    monkeypatch.setattr(_plots, "_save", keep)
    return figs


def test_map_labels_of_close_points_do_not_overlap(captured_figures, tmp_path):
    import numpy as np

    from evaluation import plot_map

    rng = np.random.default_rng(0)
    xy = rng.normal(size=(200, 2))
    marks = {"relu(x)": (0.0, 0.0), "swish(x)": (0.01, 0.01), "best": (0.02, -0.01)}  # nearly one spot
    plot_map({"p": xy}, {"p": rng.uniform(size=200)}, tmp_path / "m.png", highlight={"p": marks})
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    (fig,) = captured_figures
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts if t.get_text() in marks]
    assert len(boxes) == 3
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_eigenvalue_figure_shows_identical_features_and_explains_the_plateau(captured_figures, tmp_path):
    import numpy as np

    from evaluation import plot_eigenvalue_distributions

    layout = [{"layer": "a", "weights": 1000, "bins": 10}]
    same = np.linspace(0.5, 1.0, 10)  # half the eigenvalues clipped into the first bin
    plot_eigenvalue_distributions({"f(x)": same, "g(x)": same.copy(), "h(x)": np.linspace(0.1, 1, 10)}, layout,
                                  tmp_path / "e.png")
    (fig,) = captured_figures
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["f(x)", "g(x) (same FIM features as f(x))", "h(x)"]
    lines = ax.get_lines()
    assert lines[0].get_linestyle() != lines[1].get_linestyle() and lines[1].get_zorder() > lines[0].get_zorder()
    assert any("clipped" in t.get_text() and "-100" in t.get_text() for t in ax.texts)


def test_search_curves_have_a_title_and_say_what_the_band_is(captured_figures, tmp_path):
    import numpy as np

    from evaluation import ReplayResult, write_figures
    from evaluation._metrics import TableReference

    obj = np.random.default_rng(0).uniform(size=(4, 6))
    res = ReplayResult(name="random", seeds=[0, 1, 2, 3], rows=np.zeros(obj.shape, dtype=int), objective=obj,
                       test=obj, time=np.cumsum(np.ones_like(obj), axis=1))
    write_figures({"random": res}, TableReference(best=1.0, top1=0.9, top5=0.8, relu=0.5, n=10), tmp_path)
    (fig,) = captured_figures
    ax = fig.axes[0]
    assert "4 seeds" in ax.get_title()
    assert any("band: 95% confidence interval" in t.get_text() for t in ax.texts)
