"""The Lightning recipe (docs/examples/lightning_svag.py, shown in docs/guide/own-loop.md) with manual
optimization: its parameters equal the plain drop-in loop's bit for bit, a run resumed from a Lightning
checkpoint taken in the middle of an effective step equals the uninterrupted run, and Lightning's CSV and
TensorBoard loggers get one row per effective step, on the same x-axis at every l.  Needs the ``lightning``
extra (installed by the test command)."""

from __future__ import annotations

import csv
import importlib.util
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from sdesim.torch import SVAG, digits, mlp, two_independent_batches  # noqa: E402

torch.set_num_threads(1)
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "lightning_svag.py"
L_SVAG, STEPS = 4, 10          # 40 small steps, the schedule's milestone at effective step 5


def recipe():
    spec = importlib.util.spec_from_file_location("lightning_svag", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dataset():
    train, _ = digits()
    return TensorDataset(train.inputs[:400], train.targets[:400])


def lightning_module(example, dataset):
    return example.SVAGClassifier(mlp(64, 10, hidden=(16,), norm="batch", seed=0), dataset, l=L_SVAG,
                                  effective_steps=STEPS, seed=3)


def run(example, module, max_steps, ckpt_path=None, save=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = example.trainer(max_steps=max_steps)
        trainer.fit(module, ckpt_path=ckpt_path)
        if save is not None:
            trainer.save_checkpoint(save)
    return trainer


def plain_loop(dataset):
    """The drop-in loop of the guide with the recipe's settings."""
    model = mlp(64, 10, hidden=(16,), norm="batch", seed=0)
    opt = SVAG(model.parameters(), lr=0.1, l=L_SVAG, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[STEPS // 2], gamma=0.1)
    sampler = two_independent_batches(len(dataset), 32, batches=opt.batches, seed=3, draws=STEPS * opt.small_steps)
    for x, y in DataLoader(dataset, batch_sampler=sampler):
        opt.zero_grad()
        opt.combine(*[F.cross_entropy(model(xb), yb) for xb, yb in opt.split(x, y)]).backward()
        opt.step()
        if opt.ends_effective_step:
            schedule.step()
    return model, opt


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_the_lightning_recipe_equals_the_plain_loop_bit_for_bit(dataset):
    example = recipe()
    module = lightning_module(example, dataset)
    trainer = run(example, module, STEPS * L_SVAG)
    model, opt = plain_loop(dataset)
    svag = trainer.optimizers[0]
    assert (svag.small_steps_taken, svag.effective_steps_taken) == (STEPS * L_SVAG, STEPS)
    assert svag.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.01)   # the schedule moved
    assert not same(module.model, mlp(64, 10, hidden=(16,), norm="batch", seed=0))
    assert same(module.model, model)


def test_a_lightning_run_resumed_mid_effective_step_equals_the_straight_run(dataset, tmp_path):
    example = recipe()
    straight = lightning_module(example, dataset)
    run(example, straight, STEPS * L_SVAG)
    first = lightning_module(example, dataset)
    run(example, first, 4 * L_SVAG + 2, save=tmp_path / "mid.ckpt")      # killed 2 small steps into step 5
    resumed = lightning_module(example, dataset)
    trainer = run(example, resumed, STEPS * L_SVAG, ckpt_path=tmp_path / "mid.ckpt")
    assert trainer.optimizers[0].small_steps_taken == STEPS * L_SVAG
    assert resumed.sde_time == straight.sde_time == pytest.approx(5 * 0.1 + 5 * 0.01)   # restored, then stepped
    assert not same(first.model, straight.model)
    assert same(resumed.model, straight.model)


def test_lightning_loggers_get_one_row_per_effective_step_at_every_l(dataset, tmp_path):
    """At l = 1 and l = 2 (4 and 8 small steps), Lightning's CSVLogger and TensorBoardLogger get the rows
    k = 1..4 once each, with the same SDE time: the runs overlay.  (Lightning's own step counts small steps.)"""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    example, steps = recipe(), 4
    rows, scalars = {}, {}
    for l in (1, 2):
        module = example.SVAGClassifier(mlp(64, 10, hidden=(16,), norm="batch", seed=0), dataset, l=l,
                                        effective_steps=steps, seed=3)
        loggers = [CSVLogger(tmp_path, name=f"csv{l}", version=0)]
        tensorboard = importlib.util.find_spec("tensorboard") is not None
        if tensorboard:
            loggers.append(TensorBoardLogger(tmp_path, name=f"tb{l}", version=0, default_hp_metric=False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            example.trainer(max_steps=steps * l, logger=loggers, log_every_n_steps=1).fit(module)
        rows[l] = list(csv.DictReader(open(tmp_path / f"csv{l}" / "version_0" / "metrics.csv")))
        if tensorboard:
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

            events = EventAccumulator(str(tmp_path / f"tb{l}" / "version_0")).Reload()
            scalars[l] = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in ("train_loss", "time")}
    for l in (1, 2):
        assert [int(row["step"]) for row in rows[l]] == [1, 2, 3, 4]
        assert [float(row["time"]) for row in rows[l]] == pytest.approx([0.1, 0.2, 0.21, 0.22])  # milestone at 2
        assert all(row["train_loss"] for row in rows[l])
    assert [row["train_loss"] for row in rows[1]] != [row["train_loss"] for row in rows[2]]
    for l in scalars:
        assert [step for step, _ in scalars[l]["train_loss"]] == [1, 2, 3, 4]
        assert [value for _, value in scalars[l]["train_loss"]] == pytest.approx(
            [float(row["train_loss"]) for row in rows[l]], rel=1e-6)          # TensorBoard stores float32
