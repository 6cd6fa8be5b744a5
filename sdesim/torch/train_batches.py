"""How the trainer reads its data: a batch at a time from tensors or through a torch ``Dataset``'s feed
(``sdesim.torch.loading``: workers, prefetch, augmentation seeded by the batch's number), chunks for ``gd`` and
``ngd``, and the checks on the first examples before any work."""

from __future__ import annotations

import contextlib
import warnings

import torch

from sdesim.torch import loading
from sdesim.torch._checks import check_input_dtype, isolated_rng
from sdesim.torch.data import DatasetData

AUGMENTATION_PROBE = 16    # examples read twice to detect a random augmentation (a coin flip each: missed with 2⁻¹⁶)


class BatchReading:
    """The `Trainer`'s data reading (a mixin: it uses the trainer's model, data, sampler, seed and loader)."""

    def _check_data(self) -> None:
        """Before any work (eval mode, no gradient, torch's random state restored: no side effects): the inputs
        have the model's dtype and the loss gives one value per example, on the first two examples; for 'gd'
        and 'ngd', the first `AUGMENTATION_PROBE` examples read the same twice (no random augmentation)."""
        first = lambda data, k: data.batch(torch.arange(min(k, len(data)), device=data.device))  # noqa: E731
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), isolated_rng(self.device):
                inputs, targets = first(self.train_data, 2)
                check_input_dtype(self.model, inputs, "the training inputs")
                if self.test_data is not None:
                    if len(self.test_data) == 0:
                        raise ValueError("test_data has no examples; pass None to evaluate on the training set only")
                    check_input_dtype(self.model, first(self.test_data, 2)[0], "the test inputs")
                losses = self.loss_fn(self.model(inputs), targets)
                if self.config["method"] in ("gd", "ngd"):
                    reads = [first(self.train_data, AUGMENTATION_PROBE) for _ in range(2)]
                    if not all(torch.equal(a, b) for a, b in zip(*reads)):
                        self._refuse_augmentation()
        finally:
            self.model.train(was_training)
        if not isinstance(losses, torch.Tensor) or tuple(losses.shape) != (2,):
            shape = tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__
            raise ValueError(f"loss must return one loss per example (shape (B,)), got {shape} for a batch of 2; "
                             f"e.g. lambda out, y: F.cross_entropy(out, y, reduction='none')")

    def _refuse_augmentation(self) -> None:
        """The training set changes between reads (random augmentation): refuse 'ngd', warn for 'gd'."""
        method = self.config["method"]
        if method == "ngd":
            raise ValueError("method 'ngd' needs a fixed training set, but its first examples read differently "
                             "twice (a random augmentation?): NGD's noise has the covariance of SGD's over fixed "
                             "examples and would leave out the augmentation's; use a data set without random "
                             "transforms, or method 'sgd' or 'svag'")
        warnings.warn("method 'gd': the training set's first examples read differently twice (a random "
                      "augmentation?), so each step is the full gradient over a fresh random draw of the "
                      "augmentations, not the gradient of a fixed loss", UserWarning, stacklevel=4)

    # -- reading a Dataset (sdesim.torch.loading) ----------------------------------------------------

    def _next_batch(self):
        """(inputs, targets) of the next training batch: indexed tensors, or a Dataset's batch number
        `batches`, read through the run's feed (outside run(): read here, without workers)."""
        if not isinstance(self.train_data, DatasetData):
            return self.train_data.batch(self.sampler.draw())
        if self._feed is not None:
            batch = self._feed.next()
        else:
            feed = self._open_feed(loading.LoaderSettings())
            try:
                batch = feed.next()
            finally:
                feed.close()
        self.batches += 1
        return batch

    def _open_feed(self, settings: loading.LoaderSettings) -> loading.TrainingFeed:
        return loading.TrainingFeed(self.train_data, self.sampler, seed=self.config["seed"],
                                    first_number=self.batches, settings=settings)

    def _chunk_reader(self):
        """For 'gd' and 'ngd' on a Dataset: a function chunks -> (inputs, targets) per chunk, numbered on from
        `batches`; None for tensors (``weighted_gradient`` then indexes them)."""
        if not isinstance(self.train_data, DatasetData):
            return None

        def read(chunks):
            first, self.batches = self.batches, self.batches + len(chunks)
            return loading.read_chunks(self.train_data, chunks, seed=self.config["seed"], stream=loading.TRAINING,
                                       first_number=first, settings=self.loader)
        return read

    @contextlib.contextmanager
    def _training_feed(self):
        """During run(): a Dataset's training batches read ahead (workers, prefetch) for 'sgd', 'svag' and the
        adaptive methods; on exit, however run() ends, the workers stop and the sampler is rewound to the
        batches actually used."""
        if not isinstance(self.train_data, DatasetData) or self.config["method"] in ("gd", "ngd"):
            yield
            return
        self._feed = self._open_feed(self.loader)
        try:
            yield
        finally:
            self._feed.close()
            self._feed = None

    def _sampler_state(self) -> torch.Tensor:
        """The sampler generator's state after the batches used so far (not those a feed drew ahead)."""
        return self.rng.sampler.get_state() if self._feed is None else self._feed.consumed_state
