"""sdesim.torch.optim and sdesim.torch.samplers: the drop-in loop equals the Trainer bit for bit, l = 1 equals
torch.optim bit for bit, save/load mid-run resumes exactly, NoisyGD's gradient is ngd_gradient's, the samplers
match DataLoader(shuffle=True) and have the stated statistics, and bad input is refused with clear messages."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from sdesim.torch.ngd import ngd_gradient  # noqa: E402
from sdesim.torch.optim import SVAG, AdamSVAG, NoisyGD, PaperRMSpropSVAG, RMSpropSVAG  # noqa: E402
from sdesim.torch.samplers import epoch_reshuffling, two_independent_batches  # noqa: E402
from sdesim.torch.train_settings import stream_seeds  # noqa: E402
from sdesim.torch.training import DataSettings, LogSettings, Trainer  # noqa: E402
from tiny_torch import tiny_data, tiny_model  # noqa: E402

torch.set_num_threads(1)
LR, BATCH, SEED, STEPS = 0.05, 5, 3, 6


def same_state(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def drop_in_loop(model, opt, dataset, batch_sampler, *, milestone=None, own_sampling=False):
    """The loop of docs/guide/own-loop.md: one small step per item of the loader, the scheduler per effective step
    (``own_sampling``: the batches are a recorded list, not a two_independent_batches sampler)."""
    scheduler = None if milestone is None else torch.optim.lr_scheduler.MultiStepLR(opt, [milestone], 0.5)
    for x, y in DataLoader(dataset, batch_sampler=batch_sampler, generator=torch.Generator()):
        opt.zero_grad()
        batches = opt.split(x, y, own_sampling=own_sampling)
        opt.combine(*[F.cross_entropy(model(xb), yb) for xb, yb in batches]).backward()
        opt.step()
        if opt.ends_effective_step and scheduler is not None:
            scheduler.step()
    return model


TRAINER_AND_OPTIMIZER = [
    ("svag", 1, {}, lambda p, l, wd: SVAG(p, lr=LR, l=l, weight_decay=wd)),
    ("svag", 2, {}, lambda p, l, wd: SVAG(p, lr=LR, l=l, weight_decay=wd)),
    ("svag", 3, {}, lambda p, l, wd: SVAG(p, lr=LR, l=l, weight_decay=wd)),
    ("adam", 2, {}, lambda p, l, wd: AdamSVAG(p, lr=LR, l=l, weight_decay=wd)),
    ("rmsprop", 2, dict(beta2=0.9), lambda p, l, wd: RMSpropSVAG(p, lr=LR, l=l, weight_decay=wd, alpha=0.9)),
]


@pytest.mark.parametrize("method,l,settings,make", TRAINER_AND_OPTIMIZER, ids=lambda v: str(v)[:8])
def test_drop_in_loop_equals_trainer_bit_for_bit(method, l, settings, make):
    """Same batches (recorded from the trainer's sampler), same dropout stream: same parameters and batch-norm
    statistics, through a weight decay and a schedule stepped per effective step."""
    data = tiny_data(40)
    model = tiny_model(norm="batch", dropout=0.2)
    trainer = Trainer(model, data, method=method, l=l, lr=LR, batch_size=BATCH, weight_decay=0.01, seed=SEED,
                      schedule={3: 0.5}, logging=LogSettings(log_every=STEPS), **settings)
    drawn, draw = [], trainer.sampler.draw
    trainer.sampler.draw = lambda: drawn.append(draw()) or drawn[-1]
    trainer.run(STEPS)

    mine = tiny_model(norm="batch", dropout=0.2)
    opt = make(mine.parameters(), l, 0.01)
    per_step = opt.batches
    batches = [torch.cat(drawn[i:i + per_step]).tolist() for i in range(0, len(drawn), per_step)]
    torch.manual_seed(stream_seeds(SEED)[2])        # the trainer's dropout stream
    drop_in_loop(mine, opt, TensorDataset(data.inputs, data.targets), batches, milestone=3, own_sampling=True)
    assert opt.effective_steps_taken == STEPS and opt.small_steps_taken == STEPS * opt.small_steps
    assert same_state(model, mine)
    # power: the other l of the same method takes other steps
    other = tiny_model(norm="batch", dropout=0.2)
    Trainer(other, data, method=method, l=l + 1, lr=LR, batch_size=BATCH, weight_decay=0.01, seed=SEED,
            schedule={3: 0.5}, logging=LogSettings(log_every=STEPS), **settings).run(STEPS)
    assert not same_state(other, mine)


TORCH_OPTIM = [
    (lambda p, wd: SVAG(p, lr=LR, weight_decay=wd), lambda p, wd: torch.optim.SGD(p, lr=LR, weight_decay=wd)),
    (lambda p, wd: SVAG(p, lr=LR, weight_decay=wd, unvalidated_momentum=0.9),
     lambda p, wd: torch.optim.SGD(p, lr=LR, weight_decay=wd, momentum=0.9)),
    (lambda p, wd: RMSpropSVAG(p, lr=LR, weight_decay=wd, alpha=0.9),
     lambda p, wd: torch.optim.RMSprop(p, lr=LR, weight_decay=wd, alpha=0.9)),
    (lambda p, wd: AdamSVAG(p, lr=LR, weight_decay=wd, betas=(0.8, 0.95), eps=1e-6),
     lambda p, wd: torch.optim.Adam(p, lr=LR, weight_decay=wd, betas=(0.8, 0.95), eps=1e-6)),
    (lambda p, wd: PaperRMSpropSVAG(p, lr=LR, weight_decay=wd, alpha=0.9),
     lambda p, wd: torch.optim.Adam(p, lr=LR, weight_decay=wd, betas=(0.0, 0.9))),
]


def plain_loop(make, data, dtype, steps=12, seed=0):
    """A plain torch loop (one batch per step, a StepLR) with the optimizer ``make`` builds."""
    model = tiny_model(norm="batch", dtype=dtype)
    opt = make(model.parameters(), 0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    sampler = two_independent_batches(len(data), BATCH, batches=1, seed=seed, draws=steps)
    for x, y in DataLoader(TensorDataset(data.inputs, data.targets), batch_sampler=sampler):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        scheduler.step()
    return model


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("mine,theirs", TORCH_OPTIM, ids=["sgd", "momentum", "rmsprop", "adam", "paper_rmsprop"])
def test_l_1_is_torch_optim_bit_for_bit(mine, theirs, dtype):
    data = tiny_data(40, dtype=dtype)
    assert same_state(plain_loop(mine, data, dtype), plain_loop(theirs, data, dtype))
    assert not same_state(plain_loop(mine, data, dtype, seed=1), plain_loop(theirs, data, dtype))


def test_momentum_above_l_1_is_heavy_ball_with_the_svag_rule():
    """b ← β_l b + (g + λx), x ← x − (η/l²) b, β_l = 1 − (1 − β)/l, on the SVAG gradient of two batches."""
    data, l, beta, decay = tiny_data(40), 3, 0.9, 0.01
    sampler = two_independent_batches(len(data), BATCH, seed=1, draws=9)
    model = tiny_model()
    drop_in_loop(model, SVAG(model.parameters(), lr=LR, l=l, weight_decay=decay, unvalidated_momentum=beta),
                 TensorDataset(data.inputs, data.targets), sampler)
    by_hand = tiny_model()
    params = list(by_hand.parameters())
    buffers = [None] * len(params)
    c1, c2 = (1 + math.sqrt(2 * l - 1)) / 2, (1 - math.sqrt(2 * l - 1)) / 2
    for j in range(9):
        indices = torch.tensor(sampler.draw(j))
        for p in params:
            p.grad = None
        losses = [F.cross_entropy(by_hand(data.inputs[i]), data.targets[i]) for i in indices.chunk(2)]
        (c1 * losses[0] + c2 * losses[1]).backward()
        with torch.no_grad():
            for i, p in enumerate(params):
                g = p.grad + decay * p
                buffers[i] = g.clone() if buffers[i] is None else (1 - (1 - beta) / l) * buffers[i] + g
                p -= LR / l**2 * buffers[i]
    for p, q in zip(model.parameters(), params):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


RESUMABLE = [
    lambda p: SVAG(p, lr=LR, l=3, weight_decay=0.01),
    lambda p: SVAG(p, lr=LR, l=2, unvalidated_momentum=0.9),
    lambda p: AdamSVAG(p, lr=LR, l=2, weight_decay=0.01),
]


@pytest.mark.parametrize("make", RESUMABLE, ids=["svag", "momentum", "adam"])
def test_save_and_load_mid_run_resumes_bit_for_bit(make):
    """Stop after 7 small steps (inside an effective step), save model, optimizer (through torch.save with
    weights_only=True), rebuild everything and resume the sampler at opt.small_steps_taken."""
    data = tiny_data(40)
    dataset = TensorDataset(data.inputs, data.targets)
    total, stop = 12, 7

    def loop(model, opt, start, draws):
        sampler = two_independent_batches(len(data), BATCH, batches=opt.batches, seed=5, start=start, draws=draws)
        drop_in_loop(model, opt, dataset, sampler)

    straight = tiny_model(norm="batch")
    loop(straight, make(straight.parameters()), 0, total)

    first = tiny_model(norm="batch")
    opt = make(first.parameters())
    loop(first, opt, 0, stop)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = tiny_model(seed=9, norm="batch")
    resumed.load_state_dict(saved["model"])
    opt = make(resumed.parameters())
    opt.load_state_dict(saved["opt"])
    assert opt.small_steps_taken == stop
    loop(resumed, opt, opt.small_steps_taken, total)
    assert same_state(straight, resumed)


def test_noisy_gd_gradient_is_ngd_gradient_and_loop_is_trainer_bit_for_bit():
    data, batch, lr, decay = tiny_data(40), 5, 0.1, 0.01
    for sample_size, chunk_size in ((None, None), (None, 7), (30, 8)):
        model = tiny_model()
        opt = NoisyGD(model.parameters(), lr, n=len(data), batch_size=batch, sample_size=sample_size, seed=4)
        generator = torch.Generator().set_state(opt.generator.get_state())
        for chunk in opt.draw(chunk_size):
            inputs, targets = data.batch(chunk.indices)
            chunk.loss(F.cross_entropy(model(inputs), targets, reduction="none")).backward()
        mine = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        loss = lambda out, y: F.cross_entropy(out, y, reduction="none")  # noqa: E731
        ngd_gradient(model, loss, data, batch, generator, covariance_factor=(40 - 5) / 39, sample_size=sample_size,
                     chunk_size=chunk_size)
        assert all(torch.equal(a, p.grad) for a, p in zip(mine, model.parameters()))

    trained = tiny_model()
    Trainer(trained, data, method="ngd", lr=lr, batch_size=batch, weight_decay=decay, seed=SEED,
            data=DataSettings(chunk_size=16), logging=LogSettings(log_every=STEPS)).run(STEPS)
    model = tiny_model()
    opt = NoisyGD(model.parameters(), lr, n=len(data), batch_size=batch, weight_decay=decay, seed=stream_seeds(SEED)[1])
    for _ in range(STEPS):
        opt.zero_grad()
        for chunk in opt.draw(chunk_size=16):
            inputs, targets = data.batch(chunk.indices)
            chunk.loss(F.cross_entropy(model(inputs), targets, reduction="none")).backward()
        opt.step()
    assert same_state(trained, model)
    saved = opt.state_dict()
    again = NoisyGD(tiny_model().parameters(), lr, n=len(data), batch_size=batch, weight_decay=decay, seed=0)
    again.load_state_dict(saved)
    assert torch.equal(again.generator.get_state(), opt.generator.get_state()) and again.small_steps_taken == STEPS


# ---------------------------------------------------------------------------------------------------
# samplers

@pytest.mark.parametrize("drop_last", [False, True])
def test_epoch_reshuffling_is_dataloader_shuffle_and_resumes(drop_last):
    dataset = TensorDataset(torch.arange(23))
    loader = DataLoader(dataset, batch_size=5, shuffle=True, drop_last=drop_last,
                        generator=torch.Generator().manual_seed(7))
    expected = [batch[0].tolist() for _ in range(3) for batch in loader]
    sampler = epoch_reshuffling(23, 5, seed=7, drop_last=drop_last)
    assert [batch for _ in range(3) for batch in sampler] == expected
    assert len(sampler) == (4 if drop_last else 5)
    resumed = epoch_reshuffling(23, 5, seed=7, drop_last=drop_last, start=7)
    assert [batch for _ in range(3) for batch in resumed][: len(expected) - 7] == expected[7:]
    through_loader = DataLoader(dataset, batch_sampler=epoch_reshuffling(23, 5, seed=7, drop_last=drop_last))
    assert [batch[0].tolist() for _ in range(3) for batch in through_loader] == expected
    assert [batch for _ in range(3) for batch in epoch_reshuffling(23, 5, seed=8, drop_last=drop_last)] != expected


def test_two_independent_batches_is_counter_based():
    """Draw j depends on (seed, j) only: a prefetching DataLoader (2 workers) and a resumed sampler give the same."""
    straight = list(two_independent_batches(30, 4, seed=2, draws=10))
    assert len({tuple(d) for d in straight}) == 10 and all(len(d) == 8 for d in straight)
    assert list(two_independent_batches(30, 4, seed=2, draws=10, start=6)) == straight[6:]
    sampler = two_independent_batches(30, 4, seed=2, draws=10)
    sampler.set_position(3)
    assert next(iter(sampler)) == straight[3]
    loader = DataLoader(TensorDataset(torch.arange(30)), batch_sampler=two_independent_batches(30, 4, seed=2, draws=10),
                        num_workers=2, prefetch_factor=4)
    assert [batch[0].tolist() for batch in loader] == straight
    assert list(two_independent_batches(30, 4, seed=3, draws=10)) != straight
    assert [len(d) for d in two_independent_batches(30, 4, batches=1, draws=3)] == [4, 4, 4]


def test_sampler_statistics():
    """Exact facts and expectations (fixed seeds, 5 standard errors): subset batches hold B distinct examples and
    share B²/N on average; disjoint halves share none; replacement draws repeat examples; the combination
    c₁ḡ₁ + c₂ḡ₂ of scalar per-example values has variance f·σ²/B with each sampling's f (samplers docstring)."""
    n, b, l, draws = 20, 5, 4, 4000
    c1, c2 = (1 + math.sqrt(2 * l - 1)) / 2, (1 - math.sqrt(2 * l - 1)) / 2
    values = np.random.default_rng(0).standard_normal(n) ** 2
    sigma2 = values.var()
    factor = {"subset": l * (n - b) / (n - 1), "replacement": l, "disjoint_halves": (l * n - b) / (n - 1)}
    for sampling, f in factor.items():
        drawn = np.array(list(two_independent_batches(n, b, sampling=sampling, seed=11, draws=draws)))
        first, second = drawn[:, :b], drawn[:, b:]
        overlaps = np.array([len(np.intersect1d(x, y)) for x, y in zip(first, second)])
        if sampling == "disjoint_halves":
            assert (overlaps == 0).all() and all(len(set(d)) == 2 * b for d in drawn)
        if sampling == "subset":
            assert all(len(set(x)) == b for x in first)
            assert abs(overlaps.mean() - b * b / n) < 5 * overlaps.std() / math.sqrt(draws)
        if sampling == "replacement":
            assert any(len(set(x)) < b for x in first)
        combined = c1 * values[first].mean(1) + c2 * values[second].mean(1)
        centred = combined - values.mean()            # the exact mean is known
        estimate = (centred**2).mean()
        se = (centred**2).std() / math.sqrt(draws)
        assert abs(estimate - f * sigma2 / b) < 5 * se, (sampling, estimate, f * sigma2 / b, se)
    assert abs(factor["disjoint_halves"] - factor["subset"]) * sigma2 / b > 10 * se     # the check tells them apart


# ---------------------------------------------------------------------------------------------------
# bad input

def test_scheduler_stepped_every_small_step_is_refused():
    """The common mistake: `for batch in loader: ...; opt.step(); scheduler.step()` at l = 2, with a StepLR whose
    lr changes only at effective-step boundaries, so that only the write (not a change of value) shows it."""
    data = tiny_data(40)
    model = tiny_model()
    opt = SVAG(model.parameters(), lr=LR, l=2)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    sampler = two_independent_batches(len(data), BATCH, batches=opt.batches, draws=4)
    with pytest.raises(RuntimeError, match=r"learning rate was set during effective step 0, after 1 of its 2 "
                                           r"small steps.*ends_effective_step"):
        for x, y in DataLoader(TensorDataset(data.inputs, data.targets), batch_sampler=sampler):
            opt.zero_grad()
            opt.combine(*[F.cross_entropy(model(xb), yb) for xb, yb in opt.split(x, y)]).backward()
            opt.step()
            scheduler.step()
    assert opt.small_steps_taken == 1


def one_step(opt, model, data, *, l1=False):
    opt.zero_grad()
    if l1:
        F.cross_entropy(model(data.inputs[:5]), data.targets[:5]).backward()
    else:
        opt.combine(F.cross_entropy(model(data.inputs[:5]), data.targets[:5]),
                    F.cross_entropy(model(data.inputs[5:10]), data.targets[5:10])).backward()
    opt.step()


def test_bad_steps_are_refused():
    data, model = tiny_data(40), tiny_model()
    opt = SVAG(model.parameters(), lr=LR, l=2)
    one_step(opt, model, data)
    opt.param_groups[0]["lr"] = LR          # by hand, mid effective step, even to the same value
    with pytest.raises(RuntimeError, match="learning rate was set during effective step 0"):
        one_step(opt, model, data)
    opt = SVAG(model.parameters(), lr=LR, l=2)
    opt.zero_grad()
    with pytest.raises(RuntimeError, match=r"no parameter has a gradient.*loss\.backward\(\)"):
        opt.step()
    head = torch.nn.Linear(2, 2)
    opt = SVAG(list(model.parameters()) + list(head.parameters()), lr=LR, l=1)
    with pytest.raises(RuntimeError, match=r"2 of the 6 parameters have no gradient.*\(shape \(2, 2\)\).*"
                                           r"torch.optim skips such parameters silently"):
        one_step(opt, model, data, l1=True)
    named = SVAG(list(model.named_parameters()) + list(head.named_parameters()), lr=LR)
    with pytest.raises(RuntimeError, match="'weight' \\(shape \\(2, 2\\)\\)"):
        one_step(named, model, data, l1=True)
    head.requires_grad_(False)                 # frozen parameters are fine
    one_step(SVAG(list(model.parameters()) + list(head.parameters()), lr=LR), model, data, l1=True)


def test_combine_and_split_refuse_bad_losses():
    model = tiny_model()
    loss = torch.tensor(1.0, requires_grad=True)
    svag, sgd = SVAG(model.parameters(), lr=LR, l=2), SVAG(model.parameters(), lr=LR)
    cases = [
        (lambda: svag.combine(loss), r"SVAG\(l=2\)\.combine takes two losses \(two independent batches\), got 1"),
        (lambda: sgd.combine(loss, loss), r"SVAG\(l=1\)\.combine takes one loss \(l = 1: one batch, SGD\), got 2"),
        (lambda: svag.combine(loss, torch.ones(3)), r"different shapes \(\) and \(3,\)"),
        (lambda: svag.combine(torch.ones(3), torch.ones(3)), r"scalar losses.*got shape \(3,\).*\.mean\(\)"),
        (lambda: svag.combine(1.0, 2.0), r"scalar losses"),
        (lambda: svag.split(torch.ones(5, 2), torch.ones(5)), r"divisible by 2.*batches=opt\.batches"),
        (lambda: svag.split(torch.ones(4, 2), torch.ones(6)), r"lengths \[4, 6\]"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    assert sgd.combine(loss) is loss
    c1, c2 = svag.weights
    assert float(svag.combine(torch.tensor(1.0), torch.tensor(2.0))) == pytest.approx(c1 + 2 * c2)


def test_load_state_dict_refuses_another_method_or_l():
    model = tiny_model()
    saved = SVAG(model.parameters(), lr=LR, l=2).state_dict()
    cases = [
        (SVAG(model.parameters(), lr=LR, l=4), r"another method or l.*l: saved 2, here 4"),
        (SVAG(model.parameters(), lr=LR, l=2, unvalidated_momentum=0.5), r"unvalidated_momentum: saved 0\.0"),
        (AdamSVAG(model.parameters(), lr=LR, l=2), r"method: saved 'svag', here 'adam'"),
    ]
    for opt, message in cases:
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict(saved)
    with pytest.raises(ValueError, match="not saved by an sdesim.torch.optim optimizer"):
        SVAG(model.parameters(), lr=LR).load_state_dict(torch.optim.SGD(model.parameters(), lr=LR).state_dict())
    adam = AdamSVAG(model.parameters(), lr=LR, betas=(0.8, 0.999)).state_dict()
    with pytest.raises(ValueError, match=r"beta1: saved 0\.8, here 0\.9"):
        AdamSVAG(model.parameters(), lr=LR).load_state_dict(adam)


BAD_SETTINGS = [
    (lambda p: SVAG(p, lr=0.0), r"lr \(the learning rate η\) must be a finite number > 0, got 0\.0"),
    (lambda p: SVAG(p, lr=float("nan")), r"lr .* must be a finite number > 0, got nan"),
    (lambda p: SVAG(p, lr=LR, l=0), r"l must be a positive integer .* got 0"),
    (lambda p: SVAG(p, lr=LR, l=2.0), r"l must be a positive integer .* got 2\.0"),
    (lambda p: SVAG(p, lr=LR, weight_decay=-1), r"weight_decay \(λ of eq\. \(7\)\) must be a finite number >= 0"),
    (lambda p: SVAG([{"params": p, "weight_decay": -0.1}], lr=LR), r"param_groups\[0\]\['weight_decay'\]"),
    (lambda p: SVAG(p, lr=LR, unvalidated_momentum=1.0), r"unvalidated_momentum must be a number in \[0, 1\)"),
    (lambda p: AdamSVAG(p, lr=LR, betas=(0.9, 1.0)), r"betas\[1\] must be a number in \[0, 1\), got 1\.0"),
    (lambda p: AdamSVAG(p, lr=LR, betas=0.9), r"betas must be a pair"),
    (lambda p: AdamSVAG(p, lr=LR, eps=0), r"eps must be a finite number > 0"),
    (lambda p: RMSpropSVAG(p, lr=LR, alpha=-0.1), r"alpha must be a number in \[0, 1\)"),
    (lambda p: NoisyGD(p, LR, n=10, batch_size=20), r"batch_size=20 exceeds n=10"),
    (lambda p: NoisyGD(p, LR, n=10, batch_size=2, sampling="disjoint_halves"), r"unknown sampling 'disjoint_halves'"),
    (lambda p: NoisyGD(p, LR, n=100, batch_size=10, sample_size=5), r"ngd_sample_size M=5 is too small"),
    (lambda p: two_independent_batches(10, 6), r"2 batch\(es\) of batch_size=6 need 12 examples.*batch_size <= 5"),
    (lambda p: two_independent_batches(10, 2, sampling="shuffle"), r"unknown sampling 'shuffle'; allowed"),
    (lambda p: two_independent_batches(10, 2, batches=3), r"batches must be 1 .* or 2"),
    (lambda p: two_independent_batches(10, 2, start=-1), r"start must be an integer >= 0"),
    (lambda p: epoch_reshuffling(10, 2, seed=0, drop_last=1), r"drop_last must be True or False"),
]


@pytest.mark.parametrize("make,message", BAD_SETTINGS, ids=[m[:30] for _, m in BAD_SETTINGS])
def test_bad_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make(tiny_model().parameters())


def test_noisy_gd_refuses_a_step_without_its_noise():
    data, model = tiny_data(40), tiny_model()
    opt = NoisyGD(model.parameters(), LR, n=len(data), batch_size=5)
    with pytest.raises(RuntimeError, match=r"call opt\.draw\(\) before each NoisyGD\.step\(\)"):
        opt.step()
    chunks = opt.draw(chunk_size=16)
    with pytest.raises(RuntimeError, match="draw was called twice before step"):
        opt.draw()
    with pytest.raises(ValueError, match=r"one loss per example of the chunk, shape \(16,\), got \(\)"):
        chunks[0].loss(torch.tensor(1.0))
    inputs, targets = data.batch(chunks[0].indices)
    chunks[0].loss(F.cross_entropy(model(inputs), targets, reduction="none")).backward()
    with pytest.raises(RuntimeError, match="only 1 of this step's 3 chunks"):
        opt.step()
