"""The Hugging Face recipe (docs/examples/hf_svag.py, shown in docs/guide/own-loop.md): a ``transformers.Trainer``
running SVAG on a tiny BERT built from a config equals the own loop on the same batches bit for bit, at l = 1
and l = 2, with and without clip_norm, its schedule in effective steps; the Trainer's own clipping, gradient
accumulation and a batch without the keys the loss needs are refused before any step.  Needs the ``hf`` extra."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from torch.utils.data import DataLoader  # noqa: E402
from transformers import default_data_collator  # noqa: E402
from transformers.optimization import get_scheduler  # noqa: E402

from sdesim.torch import SVAG, AdamSVAG, two_independent_batches  # noqa: E402
from tiny_torch import same_state as same  # noqa: E402

torch.set_num_threads(1)
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "hf_svag.py"
B, EFFECTIVE, SEED, LR, DECAY = 4, 3, 7, 0.05, 0.01


@pytest.fixture(scope="module")
def recipe():
    # transformers.trainer, when first imported, takes a process that has imported marimo for a notebook and
    # then needs IPython (transformers' is_in_notebook); the lesson tests import marimo into the same worker
    marimo = sys.modules.pop("marimo", None)
    try:
        spec = importlib.util.spec_from_file_location("hf_svag", EXAMPLE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if marimo is not None:
            sys.modules["marimo"] = marimo
    return module


def hf_run(recipe, tmp_path, make, data, *, dropout, collator=default_data_collator, **settings):
    model = recipe.tiny_bert(seed=0, dropout=dropout)
    small_steps = make([torch.nn.Parameter(torch.zeros(1))], lr=LR).small_steps
    args = recipe.arguments(str(tmp_path), **{"max_steps": EFFECTIVE * small_steps, "per_device_train_batch_size": B,
                                              "learning_rate": LR, "weight_decay": DECAY, "seed": SEED,
                                              "lr_scheduler_type": "linear", **settings})
    trainer = recipe.SVAGTrainer(model, args, svag=make, train_dataset=data, data_collator=collator)
    trainer.train()
    return model, trainer


def own_loop(recipe, trainer, make, data, *, dropout):
    """The guide's loop on the Trainer's parameter groups, sampler seed and schedule (in effective steps)."""
    model = recipe.tiny_bert(seed=0, dropout=dropout)
    decay = set(trainer.get_decay_parameter_names(model))
    named = list(model.named_parameters())
    opt = make([{"params": [p for n, p in named if n in decay], "weight_decay": DECAY},
                {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0}], lr=LR)
    schedule = get_scheduler("linear", optimizer=opt, num_warmup_steps=0, num_training_steps=EFFECTIVE)
    sampler = two_independent_batches(len(data), B, batches=opt.batches, seed=SEED,
                                      draws=EFFECTIVE * opt.small_steps)
    torch.manual_seed(SEED)                              # what the Trainer's set_seed(args.seed) does to torch
    for batch in DataLoader(data, batch_sampler=sampler, collate_fn=default_data_collator):
        opt.zero_grad()
        model.train()
        opt.backward(*[model(**half).loss for half in opt.split(batch)])
        opt.step()
        if opt.ends_effective_step:
            schedule.step()
    return model, opt


@pytest.mark.parametrize("make", [
    functools.partial(SVAG, l=1),
    functools.partial(SVAG, l=2),
    functools.partial(SVAG, l=2, clip_norm=0.5),
    functools.partial(AdamSVAG, l=2, clip_norm=0.5),
], ids=["l1", "l2", "l2-clip", "adam-l2-clip"])
def test_the_hf_recipe_equals_the_own_loop_bit_for_bit(recipe, tmp_path, make):
    data = recipe.tiny_task(n=40)
    dropout = 0.1
    model, trainer = hf_run(recipe, tmp_path, make, data, dropout=dropout)
    mine, opt = own_loop(recipe, trainer, make, data, dropout=dropout)
    svag = trainer.svag
    assert (svag.small_steps_taken, svag.effective_steps_taken) == (EFFECTIVE * opt.small_steps, EFFECTIVE)
    assert [g["lr"] for g in svag.param_groups] == [g["lr"] for g in opt.param_groups] == [0.0, 0.0]  # decayed
    assert same(model, mine)
    assert not same(model, recipe.tiny_bert(seed=0, dropout=dropout))        # it trained


def test_the_trainers_clipping_is_refused(recipe, tmp_path):
    args = recipe.arguments(str(tmp_path), max_steps=2, max_grad_norm=1.0)
    with pytest.raises(ValueError, match=r"max_grad_norm=1\.0: the Trainer clips the combined gradient.*"
                                         r"grows like √l.*clip_norm=c"):
        recipe.SVAGTrainer(recipe.tiny_bert(), args, svag=functools.partial(SVAG, l=2),
                           train_dataset=recipe.tiny_task(n=40), data_collator=default_data_collator)
    args = recipe.arguments(str(tmp_path), max_steps=2, gradient_accumulation_steps=2)
    with pytest.raises(ValueError, match=r"gradient_accumulation_steps=2: one SVAG small step is one optimizer"):
        recipe.SVAGTrainer(recipe.tiny_bert(), args, train_dataset=recipe.tiny_task(n=40))


def test_a_batch_without_the_loss_keys_is_refused_before_any_step(recipe, tmp_path):
    def no_labels(rows):
        return {key: value for key, value in default_data_collator(rows).items() if key != "labels"}

    with pytest.raises(ValueError, match=r"the training batch has the keys \['attention_mask', 'input_ids'\], but "
                                         r"the loss needs \['input_ids', 'labels'\]: \['labels'\] missing"):
        hf_run(recipe, tmp_path, functools.partial(SVAG, l=2), recipe.tiny_task(n=40), dropout=0.0,
               collator=no_labels)


def test_a_run_resumed_inside_an_effective_step_equals_the_uninterrupted_run(recipe, tmp_path):
    """A checkpoint at small step 3 of l = 2 (inside effective step 1): the resumed sampler starts at draw 3."""
    make, data = functools.partial(SVAG, l=2, clip_norm=0.5), recipe.tiny_task(n=40)
    whole, _ = hf_run(recipe, tmp_path / "whole", make, data, dropout=0.1)
    hf_run(recipe, tmp_path / "saved", make, data, dropout=0.1, save_strategy="steps", save_steps=3)
    model = recipe.tiny_bert(seed=0, dropout=0.1)
    args = recipe.arguments(str(tmp_path / "resumed"), max_steps=EFFECTIVE * 2, per_device_train_batch_size=B,
                            learning_rate=LR, weight_decay=DECAY, seed=SEED, lr_scheduler_type="linear")
    trainer = recipe.SVAGTrainer(model, args, svag=make, train_dataset=data, data_collator=default_data_collator)
    trainer.train(resume_from_checkpoint=str(tmp_path / "saved" / "checkpoint-3"))
    assert trainer.svag.small_steps_taken == EFFECTIVE * 2
    assert same(model, whole)
