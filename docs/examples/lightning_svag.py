"""SVAG in a Lightning module: manual optimization, one SVAG small step per ``training_step``.

Run it:  python docs/examples/lightning_svag.py   (needs the ``lightning`` extra)

Each ``training_step`` gets one small step's 2B examples from ``two_independent_batches`` (B at l = 1),
gives each batch its own forward pass, backpropagates c₁·L₁ + c₂·L₂ and takes one small step; the learning
rate schedule moves once per effective step (``opt.small_steps`` small steps), and the loggers get one row
per effective step k, at x = k (not Lightning's count of small steps), with the SDE time t = Σ η, so runs at
different l overlay.  ``train_dataloader`` starts the sampler at the optimizer's small-step counter, so a run
resumed from a Lightning checkpoint (``fit(..., ckpt_path=...)``) draws what the uninterrupted run would have
drawn.
"""

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from sdesim.torch import SVAG, digits, mlp, two_independent_batches


class SVAGClassifier(L.LightningModule):
    def __init__(self, model, dataset, *, lr=0.1, l=4, batch_size=32, effective_steps=100, seed=0):
        super().__init__()
        self.model, self.dataset = model, dataset
        self.lr, self.l, self.batch_size, self.effective_steps, self.seed = lr, l, batch_size, effective_steps, seed
        self.automatic_optimization = False           # SVAG decides what one step is
        self.sde_time = 0.0                           # t = Σ η over the effective steps taken (Σ η² for AdamSVAG)

    def configure_optimizers(self):
        opt = SVAG(self.model.parameters(), lr=self.lr, l=self.l, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[self.effective_steps // 2], gamma=0.1)
        return {"optimizer": opt, "lr_scheduler": schedule}

    def train_dataloader(self):
        svag = self.trainer.optimizers[0]             # after a resume: its restored small-step counter
        sampler = two_independent_batches(len(self.dataset), self.batch_size, batches=svag.batches, seed=self.seed,
                                          draws=self.effective_steps * svag.small_steps,
                                          start=svag.small_steps_taken)
        return DataLoader(self.dataset, batch_sampler=sampler)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()                       # Lightning's wrapper; opt.optimizer is the SVAG
        svag = opt.optimizer
        opt.zero_grad()
        losses = [F.cross_entropy(self.model(x), y) for x, y in svag.split(*batch)]
        self.manual_backward(svag.combine(*losses))
        opt.step()
        if svag.ends_effective_step:
            self.sde_time += svag.param_groups[0]["lr"]
            self.lr_schedulers().step()               # the schedule is in effective steps
            # the mean of the two batches' losses: combine's c₁L₁ + c₂L₂ has noise growing like √l
            self.log_effective_step(svag.effective_steps_taken, train_loss=float(sum(losses) / len(losses)))

    def log_effective_step(self, k, **metrics):
        """One row per effective step, at x = k, straight to the loggers: ``self.log`` would give them a row per
        small step (Lightning's step counts optimizer steps), repeating the last value.  Callbacks and the
        progress bar still see the metrics through ``self.log(..., logger=False)``."""
        for logger in self.loggers:
            logger.log_metrics({**metrics, "time": self.sde_time}, step=k)
        self.log_dict(metrics, logger=False)

    def on_save_checkpoint(self, checkpoint):
        checkpoint["sde_time"] = self.sde_time

    def on_load_checkpoint(self, checkpoint):
        self.sde_time = checkpoint["sde_time"]


def trainer(**settings) -> L.Trainer:
    """A quiet CPU Lightning trainer; ``max_steps`` counts small steps (optimizer steps) in manual optimization."""
    return L.Trainer(**{"accelerator": "cpu", "devices": 1, "max_epochs": None, "logger": False,
                        "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
                        **settings})


def main(effective_steps=100, l=4):
    train, test = digits()
    module = SVAGClassifier(mlp(64, 10, hidden=(32,), norm="batch", seed=0),
                            TensorDataset(train.inputs, train.targets), l=l, effective_steps=effective_steps)
    trainer(max_steps=effective_steps * l).fit(module)
    module.model.eval()
    accuracy = float((module.model(test.inputs).argmax(1) == test.targets).float().mean())
    print(f"SVAG l={l}: {effective_steps} effective steps, test accuracy {accuracy:.3f}")
    return module


if __name__ == "__main__":
    main()
