"""SVAG in a Hugging Face ``transformers.Trainer``: one SVAG small step per Trainer optimizer step.

Run it:  python docs/examples/hf_svag.py   (needs the ``hf`` extra; a tiny BERT built from a config, no download)

`SVAGTrainer` changes four things of ``Trainer``:

* ``get_train_dataloader``: each item is one small step's 2B examples from ``two_independent_batches``
  (B = ``per_device_train_batch_size``; B at l = 1), collated by the Trainer's data collator;
* ``create_optimizer``: the SVAG optimizer (``svag=functools.partial(SVAG, l=4)``, or AdamSVAG, ...) on the
  Trainer's two parameter groups (weight decay on all but biases and norms), at ``learning_rate``;
* ``training_step``: ``opt.split`` cuts the batch dict into the two batches, each gets its own forward pass
  (``compute_loss``), and ``opt.backward(L₁, L₂)`` puts c₁ĝ₁ + c₂ĝ₂ in ``.grad`` (each ĝᵢ clipped to the
  optimizer's ``clip_norm`` if it has one); the logged loss is the mean of L₁ and L₂;
* ``create_scheduler``: the Trainer's schedule (``lr_scheduler_type``, warm-up) in effective steps, stepped
  only when ``opt.ends_effective_step`` (the Trainer steps its scheduler after every optimizer step).

``max_steps`` counts small steps: effective steps × ``opt.small_steps``.  The Trainer's ``max_grad_norm``
(1.0 by default) clips the combined gradient, whose noise grows like √l: refused; set ``max_grad_norm=0`` and
give the optimizer ``clip_norm`` (``functools.partial(SVAG, l=4, clip_norm=1.0)``), which clips each batch's
gradient before combining.  Gradient accumulation, fp16 (its GradScaler skips steps) and several processes are
refused too: one small step is one optimizer step of one process.
A resumed run (``train(resume_from_checkpoint=...)``) starts the sampler at the Trainer's step count, which
is the optimizer's small-step count, so it draws what the uninterrupted run would have drawn.
"""

import functools
import tempfile

import torch
from transformers import Trainer, TrainingArguments, default_data_collator
from transformers.optimization import get_scheduler
from torch.utils.data import DataLoader

from sdesim.torch import SVAG, two_independent_batches


class EffectiveStepSchedule:
    """A learning-rate schedule in effective steps: ``step()`` (called by the Trainer after every small step)
    steps ``schedule`` only when the SVAG optimizer ``svag`` has just ended an effective step."""

    def __init__(self, schedule, svag):
        self.schedule, self.svag = schedule, svag

    def step(self):
        if self.svag.ends_effective_step:
            self.schedule.step()

    def get_last_lr(self):
        return self.schedule.get_last_lr()

    def state_dict(self):
        return self.schedule.state_dict()

    def load_state_dict(self, state):
        self.schedule.load_state_dict(state)


class SVAGTrainer(Trainer):
    """``Trainer`` running SVAG: ``SVAGTrainer(model, args, svag=functools.partial(SVAG, l=4), train_dataset=...)``."""

    def __init__(self, *args, svag=functools.partial(SVAG, l=1), **kwargs):
        super().__init__(*args, **kwargs)
        self.make_svag, self.svag = svag, None
        refused = {
            "max_grad_norm": (self.args.max_grad_norm > 0, "the Trainer clips the combined gradient c₁g₁ + c₂g₂, "
                              "whose noise grows like √l, so clipping changes the method more the larger l; set "
                              "max_grad_norm=0 and clip each batch in the optimizer: "
                              "svag=functools.partial(SVAG, l=..., clip_norm=c)"),
            "fp16": (self.args.fp16, "its GradScaler skips steps, which this recipe does not count; use bf16"),
            "gradient_accumulation_steps": (self.args.gradient_accumulation_steps != 1, "one SVAG small step is one "
                                            "optimizer step on two batches; set it to 1 and choose B "
                                            "(per_device_train_batch_size) instead"),
            "max_steps": (self.args.max_steps <= 0, "the sampler draws independent batches, without epochs; set "
                          "max_steps = effective steps × opt.small_steps"),
            "world_size": (self.args.world_size != 1, "this recipe runs one process"),
        }
        wrong = [f"{name}={getattr(self.args, name)!r}: {why}" for name, (bad, why) in refused.items() if bad]
        if wrong:
            raise ValueError("SVAGTrainer refuses " + "; ".join(wrong))

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            model = self.model if model is None else model
            decay = set(self.get_decay_parameter_names(model))
            named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
            groups = [{"params": [p for name, p in named if name in decay], "weight_decay": self.args.weight_decay},
                      {"params": [p for name, p in named if name not in decay], "weight_decay": 0.0}]
            self.optimizer = self.svag = self.make_svag([g for g in groups if g["params"]], lr=self.args.learning_rate)
        return self.optimizer

    def create_scheduler(self, num_training_steps, optimizer=None):
        if self.lr_scheduler is None:
            svag = self.svag
            if num_training_steps % svag.small_steps:
                raise ValueError(f"max_steps={num_training_steps} is not a whole number of effective steps of "
                                 f"{svag.small_steps} small steps (opt.small_steps)")
            effective = num_training_steps // svag.small_steps
            schedule = get_scheduler(self.args.lr_scheduler_type, optimizer=svag, num_training_steps=effective,
                                     num_warmup_steps=self.args.get_warmup_steps(effective),
                                     scheduler_specific_kwargs=self.args.lr_scheduler_kwargs)
            self.lr_scheduler = EffectiveStepSchedule(schedule, svag)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def get_train_dataloader(self):
        svag = self.create_optimizer()                      # the sampler needs opt.batches
        seed = self.args.seed if self.args.data_seed is None else self.args.data_seed
        sampler = two_independent_batches(len(self.train_dataset), self.args.per_device_train_batch_size,
                                          batches=svag.batches, seed=seed, draws=self.args.max_steps)
        collate = self._get_collator_with_removed_columns(self.data_collator, description="training")
        return DataLoader(self.train_dataset, batch_sampler=sampler, collate_fn=collate,
                          num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory)

    def get_resumed_dataloader(self, dataloader, num_batches):
        dataloader.batch_sampler.set_position(num_batches)  # draw j is a function of (seed, j): no replay
        return dataloader

    def training_step(self, model, inputs, num_items_in_batch=None):
        needed = [model.main_input_name, *self.label_names]
        missing = [key for key in needed if key not in inputs]
        if missing:
            raise ValueError(f"the training batch has the keys {sorted(inputs)}, but the loss needs {needed}: "
                             f"{missing} missing (the model's main input and Trainer.label_names; set "
                             f"TrainingArguments(label_names=...) or the data collator)")
        model.train()
        inputs = self._prepare_inputs(inputs)
        with self.compute_loss_context_manager():
            losses = [self.compute_loss(model, batch) for batch in self.svag.split(inputs)]  # each its own mean
        self.svag.backward(*losses)                         # c₁ĝ₁ + c₂ĝ₂, each ĝᵢ clipped to clip_norm if set
        return (sum(losses) / len(losses)).detach()


def tiny_task(n=256, length=8, vocab=32, labels=3, seed=0):
    """Random token sequences; the label is the first token mod ``labels`` (learnable)."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab, (n, length), generator=generator)
    return [{"input_ids": row, "attention_mask": torch.ones(length, dtype=torch.long), "labels": int(row[0]) % labels}
            for row in tokens]


def tiny_bert(seed=0, dropout=0.0):
    from transformers import BertConfig, BertForSequenceClassification
    config = BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=3,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    torch.manual_seed(seed)
    return BertForSequenceClassification(config)


def arguments(output_dir, **settings) -> TrainingArguments:
    """Quiet CPU arguments for SVAGTrainer: no clipping by the Trainer, no checkpoints, no reports."""
    return TrainingArguments(**{"output_dir": output_dir, "max_grad_norm": 0.0, "use_cpu": True,
                                "report_to": "none", "save_strategy": "no", "disable_tqdm": True,
                                "dataloader_pin_memory": False, "logging_strategy": "no", **settings})


def main(effective_steps=50, l=4):
    torch.set_num_threads(1)
    data = tiny_task()
    with tempfile.TemporaryDirectory() as output_dir:
        args = arguments(output_dir, max_steps=effective_steps * l, per_device_train_batch_size=16,
                         learning_rate=0.5, weight_decay=1e-4, lr_scheduler_type="linear", seed=0)
        trainer = SVAGTrainer(tiny_bert(), args, svag=functools.partial(SVAG, l=l), train_dataset=data,
                              data_collator=default_data_collator)
        result = trainer.train()
    print(f"SVAG l={l}: {trainer.svag.effective_steps_taken} effective steps, mean training loss "
          f"{result.training_loss:.3f}")
    return trainer


if __name__ == "__main__":
    main()
