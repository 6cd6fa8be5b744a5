"""The trainer's data path for a torch Dataset (``sdesim.torch.loading``): DataLoader workers, prefetch and
random augmentation seeded per batch.

The invariants, bit for bit (``torch.equal``): 0, 1 and 2 workers give the same parameters; a run saved
mid-way (while workers have drawn batches ahead) and resumed with another number of workers gives the
parameters of the straight run; evaluating an augmenting data set every step leaves the trajectory
alone; a Dataset without augmentation read by workers trains as the same tensors do.  No worker
process outlives ``run()``, whether it returns or raises; bad loader settings are refused before work.
"""

from __future__ import annotations

import multiprocessing
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sdesim.torch import loading  # noqa: E402
from sdesim.torch.data import DatasetData, TensorData  # noqa: E402
from sdesim.torch.nets import cnn  # noqa: E402
from sdesim.torch.training import (Checkpoints, DataSettings, LoaderSettings, LogSettings, Speed, Trainer,  # noqa: E402
                                   train)
from tiny_torch import tiny_data, tiny_model  # noqa: E402

torch.set_num_threads(1)


class CropFlipImages(torch.utils.data.Dataset):
    """n synthetic 3×8×8 images in 4 classes, read through a random crop (padding 2, from torch's generator),
    a horizontal flip (python's ``random``) and a brightness jitter (numpy's): all three global generators."""

    def __init__(self, n=24, seed=0, augment=True):
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.rand((n, 3, 8, 8), generator=generator)
        self.labels = torch.randint(0, 4, (n,), generator=generator)
        self.augment = augment

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = self.images[i]
        if self.augment:
            padded = torch.nn.functional.pad(image, (2, 2, 2, 2))
            top, left = torch.randint(0, 5, (2,)).tolist()
            image = padded[:, top:top + 8, left:left + 8]
            if random.random() < 0.5:
                image = image.flip(-1)
            image = image * float(np.random.uniform(0.9, 1.1))
        return image, self.labels[i]


def small_cnn(dropout=True):
    """A batch-norm CNN with dropout before its last layer (dropout draws from the run's torch stream)."""
    layers = list(cnn(3, 4, channels=(4, 8), seed=0))
    if dropout:
        layers.insert(-1, torch.nn.Dropout(0.3))
    return torch.nn.Sequential(*layers)


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.state_dict().values() if p.is_floating_point()])


def cnn_run(steps=3, dropout=True, **settings):
    model = small_cnn(dropout)
    result = train(model, CropFlipImages(), steps=steps, **{"method": "svag", "l": 2, "lr": 0.1, "batch_size": 4,
                                                             "logging": LogSettings(log_every=1), "seed": 5,
                                                             **settings})
    return flat(model), result


def test_augmentation_is_seeded_per_batch_not_by_the_global_generators():
    data = DatasetData(CropFlipImages())
    chunk = [torch.arange(6)]
    read = lambda number: next(loading.read_chunks(data, chunk, seed=5, stream=loading.TRAINING,  # noqa: E731
                                                   first_number=number, settings=loading.LoaderSettings()))
    first = read(0)
    torch.manual_seed(123), random.seed(4), np.random.seed(9)
    state = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    again, other = read(0), read(1)
    assert torch.equal(first[0], again[0]) and not torch.equal(first[0], other[0])
    assert torch.equal(torch.get_rng_state(), state[0]) and random.getstate() == state[1]
    assert np.array_equal(np.random.get_state()[1], state[2])


def test_zero_one_and_two_workers_give_the_same_parameters():
    (zero, log_zero), *others = [cnn_run(loader=LoaderSettings(num_workers=w)) for w in (0, 1, 2)]
    assert not torch.equal(zero, flat(small_cnn()))
    for params, result in others:
        assert torch.equal(params, zero)
        assert result.log == log_zero.log


def test_a_dataset_without_augmentation_trains_as_its_tensors_do_with_workers():
    """SVAG on the Dataset read by 2 workers, and GD and NGD reading it in chunks, equal the tensor runs."""
    images = CropFlipImages(augment=False)
    tensors = TensorData(images.images, images.labels)
    chunks = {"data": DataSettings(chunk_size=10)}
    for method, extra in (("svag", {"l": 2}), ("gd", chunks), ("ngd", chunks)):
        finals = []
        for data, workers in ((tensors, 0), (images, 2)):
            model = cnn(3, 4, channels=(4,), norm=None, seed=0)
            train(model, data, method=method, lr=0.1, batch_size=4, steps=2, logging=LogSettings(log_every=2),
                  loader=LoaderSettings(num_workers=workers), seed=1, **extra)
            finals.append(flat(model))
        assert torch.equal(finals[0], finals[1]), method


def test_resume_mid_run_with_other_workers_is_exact(tmp_path):
    straight, _ = cnn_run(steps=6, loader=LoaderSettings(num_workers=0))
    trainer = Trainer(small_cnn(), CropFlipImages(), method="svag", l=2, lr=0.1, batch_size=4,
                      logging=LogSettings(log_every=1), loader=LoaderSettings(num_workers=2, prefetch_factor=3),
                      seed=5)
    trainer.run(3)
    trainer.save(tmp_path / "run.pt")
    assert trainer.batches == 3 * 2 * 2
    for workers in (1, 0):
        resumed = Trainer.load(tmp_path / "run.pt", small_cnn(), CropFlipImages(),
                               loader=LoaderSettings(num_workers=workers))
        assert resumed.config["num_workers"] == workers
        resumed.run(3)
        assert torch.equal(flat(resumed.model), straight)


def test_a_checkpoint_saved_while_workers_read_ahead_has_the_consumed_sampler_state(tmp_path):
    """A monitor saves at step 2 while 2 workers have prefetched 8 batches: the checkpoint holds the sampler
    state after the 8 batches used (as a run without workers saves it), and resuming from it is exact.  (No
    dropout: a save from inside run() records torch's generator as of the run's start.)"""
    straight, _ = cnn_run(steps=4, dropout=False, loader=LoaderSettings(num_workers=0))
    saved = {}

    def save_at_step_2(model, step):
        if step == 2:
            saved["path"] = trainer.save(tmp_path / f"w{trainer.config['num_workers']}.pt")
        return {}

    for workers in (0, 2):
        trainer = Trainer(small_cnn(False), CropFlipImages(), method="svag", l=2, lr=0.1, batch_size=4,
                          logging=LogSettings(log_every=1, monitor=save_at_step_2, monitor_every=1),
                          loader=LoaderSettings(num_workers=workers, prefetch_factor=4 if workers else None),
                          seed=5)
        trainer.run(3)
    states = [torch.load(tmp_path / f"w{w}.pt", weights_only=True)["rng"]["sampler"] for w in (0, 2)]
    assert torch.equal(states[0], states[1])
    resumed = Trainer.load(saved["path"], small_cnn(False), CropFlipImages(), monitor=lambda model, step: {})
    resumed.run(2)
    assert torch.equal(flat(resumed.model), straight)


def test_evaluating_augmented_data_every_step_leaves_the_training_alone():
    every_step, evaluated = cnn_run(steps=4, loader=LoaderSettings(num_workers=2),
                                    logging=LogSettings(log_every=1, eval_every=1), test_data=CropFlipImages(8, seed=1))
    never, _ = cnn_run(steps=4, loader=LoaderSettings(num_workers=2), logging=LogSettings(log_every=4))
    assert torch.equal(every_step, never)
    assert len(evaluated.columns()["test_loss"]) == 5


class Explodes(torch.nn.Module):
    """small_cnn that raises on its 5th forward pass in training mode."""

    def __init__(self):
        super().__init__()
        self.net, self.calls = small_cnn(), 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == 5:
                raise RuntimeError("boom")
        return self.net(x)


def test_no_worker_process_outlives_run():
    others = set(multiprocessing.active_children())       # children of other tests in this process, if any
    trainer = Trainer(small_cnn(), CropFlipImages(), method="svag", l=2, lr=0.1, batch_size=4, seed=5,
                      loader=LoaderSettings(num_workers=2), logging=LogSettings(log_every=1),
                      test_data=CropFlipImages(8))
    trainer.run(2)
    assert set(multiprocessing.active_children()) <= others
    exploding = Trainer(Explodes(), CropFlipImages(), lr=0.1, batch_size=4, seed=5,
                        loader=LoaderSettings(num_workers=2))
    with pytest.raises(RuntimeError, match="boom"):
        exploding.run(10)
    assert set(multiprocessing.active_children()) <= others
    assert exploding.batches == 5           # the batch of the failing pass was taken; those read ahead were not


BAD = [
    ("num_workers=-1", dict(loader=LoaderSettings(num_workers=-1)), ValueError,
     r"num_workers must be an integer >= 0 .* got -1"),
    ("num_workers=1.5", dict(loader=LoaderSettings(num_workers=1.5)), ValueError,
     r"num_workers must be an integer >= 0 .* got 1.5"),
    ("num_workers=True", dict(loader=LoaderSettings(num_workers=True)), ValueError,
     r"num_workers must be an integer >= 0 .* got True"),
    ("pin_memory='yes'", dict(loader=LoaderSettings(pin_memory="yes")), ValueError,
     r"pin_memory must be True or False, got 'yes'"),
    ("prefetch_factor without workers", dict(loader=LoaderSettings(prefetch_factor=2)), ValueError,
     r"prefetch_factor=2 needs worker processes \(num_workers >= 1\)"),
    ("prefetch_factor=0", dict(loader=LoaderSettings(num_workers=1, prefetch_factor=0)), ValueError,
     r"prefetch_factor must be None or a positive integer .* got 0"),
    ("workers for tensors", dict(loader=LoaderSettings(num_workers=2), train_data=tiny_data(12)), ValueError,
     r"num_workers=2, .* apply to a torch Dataset .* tensors held in memory \(TensorData\)"),
    ("pin_memory on the cpu", dict(loader=LoaderSettings(pin_memory=True)), UserWarning,
     r"pin_memory=True does nothing on device 'cpu': pinned memory only speeds up copies .* to a GPU"),
]


@pytest.mark.parametrize("changes, raised, message", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_loader_settings_are_refused_before_work(changes, raised, message):
    settings = {"train_data": TinyDataset(), **changes}
    if issubclass(raised, Warning):
        with pytest.warns(raised, match=message):
            Trainer(tiny_model(), batch_size=4, **settings)
    else:
        with pytest.raises(raised, match=message):
            Trainer(tiny_model(), batch_size=4, **settings)


class TinyDataset(torch.utils.data.Dataset):
    """tiny_data as a plain Dataset (read item by item: a DatasetData)."""

    def __init__(self):
        self.data = tiny_data(12)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data.inputs[i], self.data.targets[i]


def test_a_preempted_run_reading_with_workers_resumes_from_its_periodic_checkpoints(tmp_path):
    """Checkpoints written inside run() every 2 steps while 2 workers read ahead (and dropout draws from the
    run's stream): a run killed after 5 steps and resumed with ``resume="latest"`` and no workers equals the
    straight run with no workers, parameters and log."""
    straight, straight_result = cnn_run(steps=6, loader=LoaderSettings(num_workers=0))
    settings = {"method": "svag", "l": 2, "lr": 0.1, "batch_size": 4, "logging": LogSettings(log_every=1), "seed": 5,
                "checkpoints": Checkpoints(tmp_path / "ckpt", every=2)}
    train(small_cnn(), CropFlipImages(), steps=5, loader=LoaderSettings(num_workers=2, prefetch_factor=3), **settings)
    model = small_cnn()
    result = train(model, CropFlipImages(), steps=6, resume="latest", loader=LoaderSettings(num_workers=0), **settings)
    assert torch.equal(flat(model), straight)
    assert result.log == straight_result.log


def test_the_fused_pass_reads_a_dataset_through_the_feed():
    """The fused SVAG pass on a Dataset read by 2 workers takes the same batches (and augmentations) as with
    no workers; without augmentation it equals the fused pass on the same tensors."""
    model_kw = {"channels": (4,), "norm": "group", "seed": 0}
    finals = []
    for workers in (0, 2):
        model = cnn(3, 4, **model_kw)
        train(model, CropFlipImages(), method="svag", l=2, lr=0.1, batch_size=4, steps=3,
              logging=LogSettings(log_every=3), speed=Speed(fused=True), loader=LoaderSettings(num_workers=workers),
              seed=1)
        finals.append(flat(model))
    assert torch.equal(finals[0], finals[1])
    images = CropFlipImages(augment=False)
    plain = []
    for data in (TensorData(images.images, images.labels), images):
        model = cnn(3, 4, **model_kw)
        train(model, data, method="svag", l=2, lr=0.1, batch_size=4, steps=3, logging=LogSettings(log_every=3),
              speed=Speed(fused=True), seed=1)
        plain.append(flat(model))
    assert torch.equal(plain[0], plain[1])
