"""AdamWSVAG (decoupled weight decay, λ → λ/l) and the foreach path of ``sdesim.torch.adaptive``."""

from __future__ import annotations

import io
import math

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from sdesim.torch.adaptive import AdaptiveState, adaptive_step, check_hyperparameters  # noqa: E402
from sdesim.torch.optim import AdamSVAG, AdamWSVAG  # noqa: E402
from sdesim.torch.samplers import two_independent_batches  # noqa: E402
from tiny_torch import tiny_data, tiny_model  # noqa: E402

LR, BATCH = 0.01, 5


def two_groups(model, decay):
    """Weights with weight decay ``decay``, biases without and at twice the learning rate."""
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if not name.endswith("weight")]
    return [{"params": weights, "weight_decay": decay}, {"params": biases, "weight_decay": 0.0, "lr": 2 * LR}]


def run(make, data, dtype, *, steps=12, seed=0):
    """A plain loop of ``steps`` steps on one batch each, with a StepLR: l = 1 against torch.optim."""
    model = tiny_model(norm="batch", dtype=dtype)
    opt = make(model)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    sampler = two_independent_batches(len(data), BATCH, batches=1, seed=seed, draws=steps)
    for j in range(steps):
        x, y = data.batch(torch.tensor(sampler.draw(j)))
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        scheduler.step()
    return model


def same(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("foreach", [False, True], ids=["single_tensor", "foreach"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_l_1_is_torch_adamw_bit_for_bit(dtype, foreach):
    data = tiny_data(40, dtype=dtype)
    mine = lambda model: AdamWSVAG(two_groups(model, 0.05), lr=LR, betas=(0.8, 0.95), eps=1e-6)  # noqa: E731
    theirs = lambda model: torch.optim.AdamW(two_groups(model, 0.05), lr=LR, betas=(0.8, 0.95), eps=1e-6,  # noqa: E731
                                             foreach=foreach)
    assert same(run(mine, data, dtype), run(theirs, data, dtype))
    defaults = lambda model: AdamWSVAG(model.parameters(), lr=LR)  # noqa: E731
    torch_defaults = lambda model: torch.optim.AdamW(model.parameters(), lr=LR, foreach=foreach)  # noqa: E731
    assert same(run(defaults, data, dtype), run(torch_defaults, data, dtype))
    coupled = lambda model: AdamSVAG(two_groups(model, 0.05), lr=LR, betas=(0.8, 0.95), eps=1e-6)  # noqa: E731
    assert not same(run(coupled, data, dtype), run(theirs, data, dtype))


TORCH_FOREACH = {
    "adam": (dict(beta1=0.8, beta2=0.95, eps=1e-6), 0.05,
             lambda p, foreach: torch.optim.Adam(p, lr=LR, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05,
                                                 foreach=foreach)),
    "adamw": (dict(beta1=0.8, beta2=0.95, eps=1e-6), 0.05,
              lambda p, foreach: torch.optim.AdamW(p, lr=LR, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05,
                                                   foreach=foreach)),
    "rmsprop": (dict(beta2=0.9), 0.05,
                lambda p, foreach: torch.optim.RMSprop(p, lr=LR, alpha=0.9, weight_decay=0.05, foreach=foreach)),
    "paper_rmsprop": (dict(beta2=0.9), 0.0,
                      lambda p, foreach: torch.optim.Adam(p, lr=LR, betas=(0.0, 0.9), foreach=foreach)),
}


@pytest.mark.parametrize("method", list(TORCH_FOREACH))
def test_adaptive_step_foreach_is_torch_foreach_bit_for_bit(method):
    """adaptive_step(foreach=True) against torch.optim's foreach path, 8 steps, one parameter without a gradient."""
    settings, decay, make = TORCH_FOREACH[method]
    hyper = check_hyperparameters(method, **settings)
    data = tiny_data(40, dtype=torch.float32)
    models = [tiny_model(dtype=torch.float32) for _ in range(3)]
    extras = [torch.nn.Parameter(torch.ones(2)) for _ in models]       # never in the loss: no .grad
    params = [list(model.parameters()) + [extra] for model, extra in zip(models, extras)]
    states = [AdaptiveState(params[0], hyper.beta1 is not None), AdaptiveState(params[1], hyper.beta1 is not None)]
    theirs = make(params[2], True)
    for j in range(8):
        x, y = data.inputs[5 * j:5 * j + 5], data.targets[5 * j:5 * j + 5]
        for model, group in zip(models, params):
            for p in group:
                p.grad = None
            F.cross_entropy(model(x), y).backward()
        adaptive_step(params[0], states[0], hyper, LR, decay, foreach=True)
        adaptive_step(params[1], states[1], hyper, LR, decay, foreach=False)
        theirs.step()
    for mine, single, other in zip(*params):
        assert torch.equal(mine, other) and torch.equal(mine, single)
    assert states[0].steps == states[1].steps == [8] * 4 + [0]


def by_hand_l_2(data, sampler, steps, *, lr, decay, betas, eps, rescale=True):
    """AdamW's SVAG at l = 2 written out: 4 small steps per effective step, lr η/2, 1 − βᵢ → (1 − βᵢ)/4, ε → 2ε,
    x ← x(1 − (η/2)(λ/2)) then the Adam step on c₁g₁ + c₂g₂, c₁,₂ = (1 ± √7)/2; λ/2 → λ if not ``rescale``."""
    l = 2
    model = tiny_model()
    params = list(model.parameters())
    b1, b2 = (1 - (1 - b) / l**2 for b in betas)
    small_lr, small_eps, small_decay = lr / l, eps * l, decay / l if rescale else decay
    c1, c2 = (1 + math.sqrt(2 * l**2 - 1)) / 2, (1 - math.sqrt(2 * l**2 - 1)) / 2
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for k in range(1, steps + 1):
        indices = torch.tensor(sampler.draw(k - 1))
        grads = []
        for half in indices.chunk(2):
            model.zero_grad()
            F.cross_entropy(model(data.inputs[half]), data.targets[half]).backward()
            grads.append([p.grad.clone() for p in params])
        with torch.no_grad():
            for i, p in enumerate(params):
                g = c1 * grads[0][i] + c2 * grads[1][i]
                p.mul_(1 - small_lr * small_decay)
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                m_hat, v_hat = m[i] / (1 - b1**k), v[i] / (1 - b2**k)
                p.sub_(small_lr * m_hat / (v_hat.sqrt() + small_eps))
    return params


def test_small_step_at_l_2_is_the_hand_written_update():
    data, steps = tiny_data(40), 9
    settings = dict(lr=0.05, decay=0.5, betas=(0.8, 0.95), eps=1e-3)
    sampler = two_independent_batches(len(data), BATCH, seed=3, draws=steps)
    model = tiny_model()
    opt = AdamWSVAG(model.parameters(), lr=settings["lr"], l=2, weight_decay=settings["decay"],
                    betas=settings["betas"], eps=settings["eps"])
    assert opt.small_steps == 4 and opt.small_hyperparameters.l == 2
    for j in range(steps):
        x, y = data.batch(torch.tensor(sampler.draw(j)))
        opt.zero_grad()
        opt.combine(*[F.cross_entropy(model(xb), yb) for xb, yb in opt.split(x, y, own_sampling=True)]).backward()
        opt.step()
    for rescale in (True, False):
        expected = by_hand_l_2(data, sampler, steps, rescale=rescale, **settings)
        gap = max(float((p.detach() - q.detach()).abs().max()) for p, q in zip(model.parameters(), expected))
        assert (gap <= 1e-15) == rescale, (rescale, gap)


BAD = [
    (lambda p: AdamWSVAG(p, lr=LR, weight_decay=-0.01), r"weight_decay .* must be a finite number >= 0, got -0\.01"),
    (lambda p: AdamWSVAG(p, lr=LR, weight_decay=float("nan")), r"weight_decay .* must be a finite number >= 0"),
    (lambda p: AdamWSVAG([{"params": p, "weight_decay": -1.0}], lr=LR), r"param_groups\[0\]\['weight_decay'\]"),
    (lambda p: AdamWSVAG(p, lr=0.0), r"lr \(the learning rate η\) must be a finite number > 0"),
    (lambda p: AdamWSVAG(p, lr=LR, l=0), r"l must be a positive integer"),
    (lambda p: AdamWSVAG(p, lr=LR, betas=(1.0, 0.999)), r"betas\[0\] must be a number in \[0, 1\), got 1\.0"),
    (lambda p: AdamWSVAG(p, lr=LR, betas=(0.9,)), r"betas must be a pair"),
    (lambda p: AdamWSVAG(p, lr=LR, eps=-1e-8), r"eps must be a finite number > 0"),
]


@pytest.mark.parametrize("make,message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make(tiny_model().parameters())


def test_state_dict_round_trip_resumes_mid_effective_step_bit_for_bit():
    data, total, stop = tiny_data(40), 11, 6
    make = lambda model: AdamWSVAG(two_groups(model, 0.1), lr=LR, l=2)  # noqa: E731

    def loop(model, opt, start):
        """Small steps [0, stop) from start 0, [stop, total) from start stop."""
        sampler = two_independent_batches(len(data), BATCH, seed=5, start=start, draws=total - start)
        for j in range(start, total if start else stop):
            x, y = data.batch(torch.tensor(sampler.draw(j)))
            opt.zero_grad()
            opt.combine(*[F.cross_entropy(model(xb), yb) for xb, yb in opt.split(x, y, own_sampling=True)]).backward()
            opt.step()

    first = tiny_model()
    opt = make(first)
    loop(first, opt, 0)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = tiny_model(seed=9)
    resumed.load_state_dict(saved["model"])
    opt = make(resumed)
    opt.load_state_dict(saved["opt"])
    assert opt.small_steps_taken == stop and opt.state_dict()["sdesim"]["method"] == "adamw"
    loop(resumed, opt, stop)
    whole = tiny_model()
    opt = make(whole)
    loop(whole, opt, 0)
    loop(whole, opt, stop)
    assert same(whole, resumed)
    with pytest.raises(ValueError, match=r"method: saved 'adamw', here 'adam'"):
        AdamSVAG(two_groups(tiny_model(), 0.1), lr=LR, l=2).load_state_dict(saved["opt"])
