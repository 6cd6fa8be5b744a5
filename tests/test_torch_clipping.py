"""Clipping each batch's gradient (``clip_norm``, ``opt.backward``, ``opt.batch``): l = 1 is torch's
SGD + clip_grad_norm_ bit for bit, l > 1 is c₁clip(∇L₁) + c₂clip(∇L₂) as written by hand, without
clip_norm `backward` is combine(...).backward() bit for bit, accumulation over micro-batches and a
GradScaler give the same step, and a step that would skip the clipping is refused."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from sdesim.torch.optim import SVAG, AdamSVAG, RMSpropSVAG  # noqa: E402
from tiny_torch import tiny_data, tiny_model  # noqa: E402

torch.set_num_threads(1)
LR, BATCH, CLIP = 0.3, 5, 0.05     # CLIP binds: every batch gradient of the tiny model is longer than 0.05


def batch(data, j):
    """The j-th block of BATCH examples (cycling): fixed batches, so both sides of a comparison see the same."""
    start = (j * BATCH) % (len(data) - BATCH)
    return data.inputs[start:start + BATCH], data.targets[start:start + BATCH]


def loss_of(model, data, j):
    x, y = batch(data, j)
    return F.cross_entropy(model(x), y)


def params_equal(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_l_1_with_clip_norm_is_sgd_with_clip_grad_norm_bit_for_bit():
    data, steps = tiny_data(40), 6
    mine, theirs = tiny_model(), tiny_model()
    opt = SVAG(mine.parameters(), lr=LR, weight_decay=0.01, clip_norm=CLIP)
    sgd = torch.optim.SGD(theirs.parameters(), lr=LR, weight_decay=0.01)
    norms = []
    for j in range(steps):
        opt.zero_grad()
        opt.backward(loss_of(mine, data, j))
        opt.step()
        sgd.zero_grad()
        loss_of(theirs, data, j).backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(theirs.parameters(), CLIP)))
        sgd.step()
    assert min(norms) > CLIP                       # the clipping acted at every step
    assert params_equal(mine, theirs)


@pytest.mark.parametrize("l", [2, 3])
def test_l_above_1_clips_each_batch_before_combining(l):
    """x ← x − (η/l)(c₁clip(∇L₁) + c₂clip(∇L₂) + λx), written out with autograd.grad and the clip formula."""
    data, decay, steps = tiny_data(40), 0.01, 2 * l
    model, by_hand = tiny_model(), tiny_model()
    opt = SVAG(model.parameters(), lr=LR, l=l, weight_decay=decay, clip_norm=CLIP)
    c1, c2 = (1 + math.sqrt(2 * l - 1)) / 2, (1 - math.sqrt(2 * l - 1)) / 2
    params = list(by_hand.parameters())
    for j in range(steps):
        opt.zero_grad()
        opt.backward(loss_of(model, data, 2 * j), loss_of(model, data, 2 * j + 1))
        opt.step()
        clipped = []
        for k in (2 * j, 2 * j + 1):
            grads = torch.autograd.grad(loss_of(by_hand, data, k), params)
            norm = torch.sqrt(sum((g**2).sum() for g in grads))
            assert norm > CLIP
            clipped.append([g * (CLIP / (norm + 1e-6)) for g in grads])
        with torch.no_grad():
            for p, g1, g2 in zip(params, *clipped):
                p -= LR / l * (c1 * g1 + c2 * g2 + decay * p)
    for p, q in zip(model.parameters(), params):
        torch.testing.assert_close(p, q, rtol=1e-13, atol=1e-15)


def test_without_clip_norm_backward_is_combine_backward_bit_for_bit():
    data = tiny_data(40)
    a, b = tiny_model(), tiny_model()
    opt_a, opt_b = SVAG(a.parameters(), lr=LR, l=4), SVAG(b.parameters(), lr=LR, l=4)
    for j in range(8):
        opt_a.zero_grad()
        opt_a.backward(loss_of(a, data, 2 * j), loss_of(a, data, 2 * j + 1))
        opt_a.step()
        opt_b.zero_grad()
        opt_b.combine(loss_of(b, data, 2 * j), loss_of(b, data, 2 * j + 1)).backward()
        opt_b.step()
    assert params_equal(a, b)


@pytest.mark.parametrize("make", [
    lambda p: SVAG(p, lr=LR, l=2, clip_norm=CLIP),
    lambda p: AdamSVAG(p, lr=0.01, l=2, clip_norm=CLIP),
    lambda p: RMSpropSVAG(p, lr=0.01, l=2, clip_norm=CLIP),
], ids=["svag", "adam", "rmsprop"])
def test_accumulating_micro_batches_in_opt_batch_is_backward(make):
    """Each batch's loss as the mean of two micro-batches' losses, accumulated inside `with opt.batch(i)`, is
    clipped as one batch: the step equals `backward` on the whole batches (to rounding: sums in another order)."""
    data = tiny_data(40)
    whole, parts = tiny_model(), tiny_model()
    opt_whole, opt_parts = make(whole.parameters()), make(parts.parameters())
    for j in range(2 * opt_whole.small_steps):
        opt_whole.zero_grad()
        opt_whole.backward(loss_of(whole, data, 2 * j), loss_of(whole, data, 2 * j + 1))
        opt_whole.step()
        opt_parts.zero_grad()
        for i, k in enumerate((2 * j, 2 * j + 1)):
            x, y = batch(data, k)
            with opt_parts.batch(i):
                for part in (slice(0, 2), slice(2, BATCH)):
                    weight = len(range(BATCH)[part]) / BATCH
                    (weight * F.cross_entropy(parts(x[part]), y[part])).backward()
        opt_parts.step()
    for p, q in zip(whole.parameters(), parts.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


def test_grad_scaler_clips_at_the_unscaled_threshold_and_a_skipped_step_is_counted():
    """backward(..., scaler=s) then s.step(opt): the same step as without a scaler, to float rounding of the
    scale (2¹⁶: exact); skip_step moves the counter, not the parameters."""
    data = tiny_data(40)
    scaled, plain = tiny_model(), tiny_model()
    opt_s, opt_p = SVAG(scaled.parameters(), lr=LR, l=2, clip_norm=CLIP), SVAG(plain.parameters(), lr=LR, l=2,
                                                                             clip_norm=CLIP)
    scaler = torch.amp.GradScaler("cpu")
    for j in range(4):
        opt_s.zero_grad()
        opt_s.backward(loss_of(scaled, data, 2 * j), loss_of(scaled, data, 2 * j + 1), scaler=scaler)
        scaler.step(opt_s)
        scaler.update()
        opt_p.zero_grad()
        opt_p.backward(loss_of(plain, data, 2 * j), loss_of(plain, data, 2 * j + 1))
        opt_p.step()
    assert opt_s.small_steps_taken == 4
    for p, q in zip(scaled.parameters(), plain.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-15)
    before = [p.clone() for p in scaled.parameters()]
    opt_s.skip_step()
    assert opt_s.small_steps_taken == 5 and opt_s.effective_steps_taken == 2
    assert all(torch.equal(p, q) for p, q in zip(scaled.parameters(), before))


def test_a_step_that_would_skip_the_clipping_is_refused():
    data, model = tiny_data(40), tiny_model()
    opt = SVAG(model.parameters(), lr=LR, l=2, clip_norm=CLIP)
    opt.zero_grad()
    opt.combine(loss_of(model, data, 0), loss_of(model, data, 1)).backward()
    with pytest.raises(RuntimeError, match=r"clip_norm=0\.05, but only 0 of the small step's 2 batch gradients.*"
                                           r"opt\.backward\(loss1, loss2\)"):
        opt.step()
    opt.zero_grad()
    with opt.batch(0):
        loss_of(model, data, 0).backward()
    with pytest.raises(RuntimeError, match=r"batch 0's gradient is already in \.grad"):
        opt.batch(0)
    with pytest.raises(RuntimeError, match=r"only 1 of the small step's 2"):
        opt.step()
    with pytest.raises(ValueError, match=r"batch takes the batch's number, 0 or 1.*got 2"):
        opt.batch(2)
    assert opt.small_steps_taken == 0


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_bad_clip_norm_is_refused(bad):
    with pytest.raises(ValueError, match=r"clip_norm must be a finite number > 0.*or None"):
        SVAG(tiny_model().parameters(), lr=LR, l=2, clip_norm=bad)
    with pytest.raises(ValueError, match=r"clip_norm must be a finite number > 0"):
        AdamSVAG(tiny_model().parameters(), lr=LR, l=2, clip_norm=bad)


def test_a_state_saved_with_another_clip_norm_is_refused():
    model = tiny_model()
    state = SVAG(model.parameters(), lr=LR, l=2, clip_norm=CLIP).state_dict()
    with pytest.raises(ValueError, match=r"clip_norm: saved 0\.05, here None"):
        SVAG(model.parameters(), lr=LR, l=2).load_state_dict(state)
