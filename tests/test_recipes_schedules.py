"""Optimizers and learning-rate schedules built from recipes, against independent closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from act_bench.errors import InvalidInputError
from data_builders.recipes import get_recipe
from data_builders.schedules import (
    build_optimizer,
    build_scheduler,
    learning_rate_at,
    learning_rates,
)


def _reference(start, peak, final, warmup_steps, total_steps, decay, steps):
    """Piecewise reference: np.interp through the knots (linear) or the textbook cosine."""
    steps = np.asarray(steps, dtype=float)
    warm = np.interp(steps, [0, warmup_steps], [start, peak])
    if decay == "linear":
        after = np.interp(steps, [warmup_steps, total_steps], [peak, final])
    else:
        t = np.clip((steps - warmup_steps) / (total_steps - warmup_steps), 0, 1)
        after = final + 0.5 * (peak - final) * (1 + np.cos(np.pi * t))
    return np.where(steps < warmup_steps, warm, after)


@pytest.mark.parametrize("name", ["act-bench-cnn", "act-bench-resnet", "act-bench-vit", "imagenet-resnet-50",
                                  "act-bench-mnist1d"])
@pytest.mark.parametrize("steps_per_epoch", [1, 7, 391])
def test_schedule_matches_closed_form(name, steps_per_epoch):
    r = get_recipe(name)
    s = r.schedule
    total = r.epochs * steps_per_epoch
    warm = round(s.warmup_epochs * steps_per_epoch)
    probe = sorted({0, 1, warm - 1, warm, warm + 1, total // 3, total // 2, total - 1} & set(range(total)))
    expected = _reference(s.start_lr, s.peak_lr, s.final_lr, warm, total, s.decay, probe)
    got = [learning_rate_at(s, k, epochs=r.epochs, steps_per_epoch=steps_per_epoch) for k in probe]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    # Published landmarks: start value, peak at the end of the warmup, final value approached at the end.
    assert got[0] == s.start_lr
    assert learning_rate_at(s, warm, epochs=r.epochs, steps_per_epoch=steps_per_epoch) == pytest.approx(s.peak_lr)
    assert learning_rate_at(s, total, epochs=r.epochs, steps_per_epoch=steps_per_epoch) == pytest.approx(s.final_lr)


def test_vit_schedule_landmarks_from_table4():
    r = get_recipe("act-bench-vit")  # warmup 1e-4 -> 4e-3 over 5 epochs, cosine to 1e-6 over 105 epochs
    lr = learning_rates(r, steps_per_epoch=10)
    assert len(lr) == 1050
    assert lr[0] == pytest.approx(1e-4) and lr[50] == pytest.approx(4e-3)
    assert lr[25] == pytest.approx((1e-4 + 4e-3) / 2)
    assert lr[50 + 500] == pytest.approx((4e-3 + 1e-6) / 2)  # cosine midpoint
    assert np.all(np.diff(lr[:51]) > 0) and np.all(np.diff(lr[50:]) < 0)


def test_scheduler_drives_optimizer_per_step_and_resumes():
    r = get_recipe("act-bench-cnn").with_overrides(epochs=3, schedule={"warmup_epochs": 1})
    model = torch.nn.Linear(3, 2)
    opt = build_optimizer(model.parameters(), r)
    sched = build_scheduler(opt, r, steps_per_epoch=4)
    seen = []
    for _ in range(12):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = _reference(0.0, 0.1, 0.0, 4, 12, "linear", range(12))
    np.testing.assert_allclose(seen, expected, atol=1e-15)
    # Resume from a state dict half-way: same learning rates afterwards.
    opt2 = build_optimizer(torch.nn.Linear(3, 2).parameters(), r)
    sched_a = build_scheduler(opt2, r, steps_per_epoch=4)
    for _ in range(5):
        opt2.step()
        sched_a.step()
    state = sched_a.state_dict()
    opt3 = build_optimizer(torch.nn.Linear(3, 2).parameters(), r)
    sched_b = build_scheduler(opt3, r, steps_per_epoch=4)
    sched_b.load_state_dict(state)
    opt3.step()
    sched_b.step()
    assert opt3.param_groups[0]["lr"] == pytest.approx(expected[6])


def test_sgd_optimizer_settings_and_l2_decay():
    r = get_recipe("act-bench-resnet")
    p = torch.nn.Parameter(torch.full((4,), 2.0))
    opt = build_optimizer([p], r)
    assert isinstance(opt, torch.optim.SGD)
    g = opt.param_groups[0]
    assert (g["momentum"], g["weight_decay"], g["nesterov"]) == (0.9, 1e-4, False)
    opt.param_groups[0]["lr"] = 0.1
    p.grad = torch.zeros_like(p)
    opt.step()  # first SGD step with zero gradient: p <- p - lr * wd * p
    torch.testing.assert_close(p.detach(), torch.full((4,), 2.0 * (1 - 0.1 * 1e-4)))


def test_adamw_weight_decay_is_002_times_current_lr():
    r = get_recipe("act-bench-vit").with_overrides(epochs=3, schedule={"warmup_epochs": 1})
    p = torch.nn.Parameter(torch.full((3,), 1.5))
    opt = build_optimizer([p], r)
    assert isinstance(opt, torch.optim.AdamW)
    sched = build_scheduler(opt, r, steps_per_epoch=5)
    value = 1.5
    for k in range(15):
        lr_k = learning_rate_at(r.schedule, k, epochs=3, steps_per_epoch=5)
        p.grad = torch.zeros_like(p)  # Adam's moment update is then 0: only the decoupled decay acts
        opt.step()
        value *= 1 - 0.02 * lr_k
        assert p.detach()[0].item() == pytest.approx(value, rel=1e-6)
        sched.step()


def test_edge_cases_and_errors():
    s = get_recipe("act-bench-cnn").with_overrides(schedule={"warmup_epochs": 0, "decay": "constant"}).schedule
    assert learning_rate_at(s, 0, epochs=2, steps_per_epoch=3) == 0.1
    s = get_recipe("act-bench-cnn").schedule  # warmup (5 epochs) longer than the run (2): warmup only
    assert learning_rate_at(s, 5, epochs=2, steps_per_epoch=3) == pytest.approx(0.1 * 5 / 6)
    assert math.isclose(learning_rate_at(s, 6, epochs=2, steps_per_epoch=3), 0.1)
    with pytest.raises(InvalidInputError, match="parameter step of learning_rate_at"):
        learning_rate_at(s, -1, epochs=2, steps_per_epoch=3)
    with pytest.raises(InvalidInputError, match="steps_per_epoch"):
        build_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1), get_recipe("act-bench-cnn"), 0)
    with pytest.raises(InvalidInputError, match="must be a Recipe"):
        build_optimizer([torch.nn.Parameter(torch.ones(1))], "act-bench-cnn")  # type: ignore[arg-type]
