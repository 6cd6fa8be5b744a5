"""RMSprop and Adam in the trainer: l = 1 is torch.optim bit for bit, l > 1 is SVAG for adaptive methods
(η/l, 1 − β → (1 − β)/l², ε → εl, l² small steps on the SVAG gradient with l²), checkpoints resume exactly,
and `scale_config` applies the square-root and linear rules (bad input: test_torch_bad_input.py)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from seeds import seed  # noqa: E402
from sdesim.methods import svag_weights  # noqa: E402
from sdesim.torch.data import BatchSampler  # noqa: E402
from sdesim.torch.scaling import scale_config  # noqa: E402
from sdesim.torch.train_settings import stream_seeds  # noqa: E402
from sdesim.torch.training import LogSettings, Trainer, train  # noqa: E402
from tiny_torch import tiny_data, tiny_model  # noqa: E402

torch.set_num_threads(1)
STEPS, LR, BATCH, SEED = 20, 0.05, 5, 3


def torch_optim_run(make_optimizer, data, dtype, schedule):
    """The hand loop: torch.optim on the batches the trainer draws, torch's generator seeded as the trainer's."""
    model = tiny_model(norm="batch", dropout=0.2, dtype=dtype)
    sampler_seed, _, torch_seed = stream_seeds(SEED)
    sampler = BatchSampler(len(data), BATCH, generator=torch.Generator().manual_seed(sampler_seed))
    optimizer = make_optimizer(model.parameters())
    torch.manual_seed(torch_seed)
    for step in range(STEPS):
        for group in optimizer.param_groups:
            group["lr"] = LR * (0.5 if step >= 10 else 1.0)
        optimizer.zero_grad()
        inputs, targets = data.batch(sampler.draw())
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    return model


TORCH_OPTIM = [
    ("adam", dict(), lambda p, wd: torch.optim.Adam(p, lr=LR, weight_decay=wd)),
    ("adam", dict(beta1=0.8, beta2=0.95, eps=1e-6), lambda p, wd: torch.optim.Adam(p, lr=LR, betas=(0.8, 0.95),
                                                                                   eps=1e-6, weight_decay=wd)),
    ("rmsprop", dict(beta2=0.9), lambda p, wd: torch.optim.RMSprop(p, lr=LR, alpha=0.9, weight_decay=wd)),
    ("rmsprop", dict(), lambda p, wd: torch.optim.RMSprop(p, lr=LR, weight_decay=wd)),
    ("paper_rmsprop", dict(beta2=0.9, eps=1e-7), lambda p, wd: torch.optim.Adam(p, lr=LR, betas=(0.0, 0.9), eps=1e-7,
                                                                                weight_decay=wd)),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("method,settings,optimizer", TORCH_OPTIM)
def test_l_1_is_torch_optim_bit_for_bit(method, settings, optimizer, weight_decay, dtype):
    data, schedule = tiny_data(40, dtype=dtype), {10: 0.5}
    model = tiny_model(norm="batch", dropout=0.2, dtype=dtype)
    result = train(model, data, method=method, lr=LR, batch_size=BATCH, weight_decay=weight_decay, steps=STEPS,
                   seed=SEED, logging=LogSettings(log_every=STEPS), schedule=schedule, **settings)
    reference = torch_optim_run(lambda p: optimizer(p, weight_decay), data, dtype, schedule)
    for p, q in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(p, q)
    assert result.examples == STEPS * BATCH
    assert result.last("time") == pytest.approx(10 * LR**2 + 10 * (LR / 2) ** 2, rel=1e-14)
    assert result.config["time_scale"] == "lr^2"
    # the check has power: one more step, or the other RMSprop, gives other parameters
    other = tiny_model(norm="batch", dropout=0.2, dtype=dtype)
    train(other, data, method="paper_rmsprop" if method == "rmsprop" else "rmsprop", lr=LR, batch_size=BATCH,
          weight_decay=weight_decay, steps=STEPS, seed=SEED, logging=LogSettings(log_every=STEPS), schedule=schedule)
    assert not torch.equal(other[0].weight, model[0].weight)


def adam_by_hand(model, data, *, l, lr, beta1, beta2, eps, decay, steps, bias_correction, weights=None):
    """SVAG for Adam written plainly: l² small steps per effective step of η/l, β_l = 1 − (1 − β)/l², εl, on
    c₁∇L_γ₁ + c₂∇L_γ₂ + λx with c from svag_weights(l²) (one batch at l = 1) unless ``weights`` are given."""
    sampler = BatchSampler(len(data), BATCH, generator=torch.Generator().manual_seed(stream_seeds(SEED)[0]))
    b1, b2, e, h = 1 - (1 - beta1) / l**2, 1 - (1 - beta2) / l**2, eps * l, lr / l
    weights = weights or (svag_weights(l * l) if l > 1 else (1.0,))
    m = [torch.zeros_like(p) for p in model.parameters()]
    v = [torch.zeros_like(p) for p in model.parameters()]
    for k in range(1, steps * l * l + 1):
        model.zero_grad()
        for c in weights:
            inputs, targets = data.batch(sampler.draw())
            (c * torch.nn.functional.cross_entropy(model(inputs), targets)).backward()
        with torch.no_grad():
            for p, mi, vi in zip(model.parameters(), m, v):
                g = p.grad + decay * p
                mi.copy_(b1 * mi + (1 - b1) * g)
                vi.copy_(b2 * vi + (1 - b2) * g * g)
                mhat, vhat = (mi / (1 - b1**k), vi / (1 - b2**k)) if bias_correction else (mi, vi)
                p -= h * mhat / (vhat.sqrt() + e)


@pytest.mark.parametrize("l,bias_correction", [(2, True), (3, False), (1, False)])
def test_svag_for_adam_matches_the_update_written_out(l, bias_correction):
    data, beta1, beta2, eps, decay = tiny_data(40), 0.9, 0.99, 1e-3, 0.05
    model = tiny_model()
    trainer = Trainer(model, data, method="adam", l=l, lr=LR, batch_size=BATCH, weight_decay=decay, seed=SEED,
                      beta1=beta1, beta2=beta2, eps=eps, bias_correction=bias_correction, logging=LogSettings(log_every=1))
    small = trainer.small_hyper
    assert (small.beta1, small.beta2, small.eps) == (1 - (1 - beta1) / l**2, 1 - (1 - beta2) / l**2, eps * l)
    result = trainer.run(2)
    reference = tiny_model()
    adam_by_hand(reference, data, l=l, lr=LR, beta1=beta1, beta2=beta2, eps=eps, decay=decay, steps=2,
                 bias_correction=bias_correction)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)
    assert result.columns()["time"] == [0.0, pytest.approx(LR**2), pytest.approx(2 * LR**2)]
    assert result.examples == 2 * l * l * BATCH * (2 if l > 1 else 1)
    # the check has power: SVAG's weights of l (not l²) move the parameters elsewhere
    if l > 1:
        wrong = tiny_model()
        adam_by_hand(wrong, data, l=l, lr=LR, beta1=beta1, beta2=beta2, eps=eps, decay=decay, steps=2,
                     bias_correction=bias_correction, weights=svag_weights(l))
        assert not torch.allclose(model[0].weight, wrong[0].weight, rtol=1e-6, atol=0)


def test_small_steps_keep_beta1_0_for_paper_rmsprop_and_beta_itself_at_l_1():
    hyper = Trainer(tiny_model(), tiny_data(12), method="paper_rmsprop", l=4, batch_size=3, beta2=0.9).small_hyper
    assert (hyper.beta1, hyper.beta2, hyper.eps) == (0.0, 1 - 0.1 / 16, 4e-8)
    one = Trainer(tiny_model(), tiny_data(12), method="adam", batch_size=3, beta1=0.3, beta2=0.7).small_hyper
    assert (one.beta1, one.beta2) == (0.3, 0.7)        # not 1 − (1 − β), which rounds
    assert 1 - (1 - 0.3) != 0.3


@pytest.mark.parametrize("l,batches", [(1, 1), (2, 2 * 4)])
def test_each_batch_has_its_own_forward_pass(l, batches):
    """Batch norm sees batches of B: l² small steps of two forward passes (one at l = 1) per effective step."""
    sizes = []
    model = tiny_model(norm="batch")
    model[0].register_forward_hook(lambda module, inputs, output: sizes.append(len(inputs[0])))
    trainer = Trainer(model, tiny_data(20), method="adam", l=l, batch_size=4, logging=LogSettings(log_every=5))
    trainer.run(0)                    # the log entry at step 0 evaluates the whole training set
    sizes.clear()
    trainer.run(2)
    assert sizes == [4] * (2 * batches)


@pytest.mark.parametrize("method,l", [("adam", 2), ("rmsprop", 1), ("paper_rmsprop", 2)])
def test_resume_from_checkpoint_is_identical(tmp_path, method, l):
    data, test = tiny_data(40), tiny_data(10, seed=2)
    settings = dict(method=method, l=l, lr=0.02, batch_size=5, weight_decay=0.01, logging=LogSettings(log_every=3),
                    seed=9,
                    schedule={5: 0.5}, test_data=test, beta2=0.95)
    whole = Trainer(tiny_model(norm="batch", dropout=0.3), data, **settings)
    whole.run(14)
    first = Trainer(tiny_model(norm="batch", dropout=0.3), data, **settings)
    first.run(7)
    first.save(tmp_path / "run.pt")
    fresh_model = tiny_model(seed=123, norm="batch", dropout=0.3)
    resumed = Trainer.load(tmp_path / "run.pt", fresh_model, data, test_data=test)
    assert resumed.config == first.config
    result = resumed.run(7)
    for p, q in zip(whole.model.state_dict().values(), fresh_model.state_dict().values()):
        assert torch.equal(p, q)
    assert result.log == whole.result().log and result.steps == 14
    # the check has power: resuming without the optimizer state does not give the same parameters
    lost = Trainer.load(tmp_path / "run.pt", tiny_model(seed=123, norm="batch", dropout=0.3), data, test_data=test)
    lost.optimizer.load_state_dict(Trainer(tiny_model(norm="batch"), data, **settings).optimizer.state_dict())
    lost.run(7)
    assert not torch.equal(lost.model[0].weight, whole.model[0].weight)


# --- scale_config: the square-root and linear rules on a run's settings --------------------------------

def test_scale_config_applies_the_square_root_rule():
    settings = dict(method="adam", lr=1e-3, batch_size=8, beta1=0.9, beta2=0.99, eps=1e-8, steps=400,
                    schedule={200: 0.1}, l=2)
    scaled = scale_config(settings, 4)
    assert scaled == dict(settings, lr=pytest.approx(2e-3), batch_size=32, beta1=pytest.approx(0.6),
                          beta2=pytest.approx(0.96), eps=pytest.approx(5e-9), steps=100, schedule={50: 0.1})
    rms = scale_config(dict(method="rmsprop", lr=1e-3, batch_size=8), 2)     # defaults filled in: β₂ = 0.99
    assert rms == dict(method="rmsprop", lr=pytest.approx(2**0.5 * 1e-3), batch_size=16, beta2=pytest.approx(0.98),
                       eps=pytest.approx(1e-8 / 2**0.5))
    config = Trainer(tiny_model(), tiny_data(40), method="paper_rmsprop", batch_size=4, beta2=0.9).config
    scaled = scale_config(config, 2)
    assert (scaled["beta1"], scaled["beta2"], scaled["batch_size"]) == (0.0, pytest.approx(0.8), 8)


def test_scale_config_applies_the_linear_rule():
    settings = dict(method="svag", l=2, lr=0.1, batch_size=8, steps=100)
    assert scale_config(settings, 2, rule="linear") == dict(settings, lr=0.2, batch_size=16, steps=50)
    with pytest.warns(UserWarning, match="the linear rule on method 'adam' changes its SDE"):
        scaled = scale_config(dict(method="adam", lr=1e-3, batch_size=8, beta2=0.99), 2, rule="linear")
    assert scaled == dict(method="adam", lr=2e-3, batch_size=16, beta2=0.99)


def test_svag_gradient_for_adaptive_methods_has_l_squared_times_the_covariance():
    """The combined gradient at l = 2 has the minibatch mean and 4 times its covariance (trace, 5 se)."""
    from test_torch_training import per_example_gradients

    from sdesim.torch.data import covariance_factor

    data, model, batch, l = tiny_data(), tiny_model(), 3, 2
    g = per_example_gradients(model, data)
    mean = g.mean(0)
    sigma1 = (g - mean).T @ (g - mean) / len(data)
    trace = float(torch.trace(covariance_factor("subset", len(data), batch) * sigma1 / batch))
    trainer = Trainer(model, data, method="rmsprop", l=l, batch_size=batch, seed=seed(12))
    draws = torch.stack([trainer.combined_gradient() for _ in range(4000)])
    squares = ((draws - mean) ** 2).sum(1)
    estimate, se = float(squares.mean()), float(squares.std() / len(draws) ** 0.5)
    assert abs(estimate - l * l * trace) < 5 * se, (estimate, l * l * trace, se)
    assert abs(estimate - l * trace) > 20 * se              # SVAG's weights of l, not l², are far off


@pytest.mark.parametrize("method,l", [("adam", 2), ("rmsprop", 1), ("svag", 2)])
def test_a_checkpoint_in_the_old_optimizer_format_resumes_bit_for_bit(tmp_path, method, l):
    """Checkpoints from before the trainer stepped through sdesim.torch.optim hold None (SGD family) or an
    AdaptiveState dict {exp_avg, exp_avg_sq, steps}: they resume as the uninterrupted run."""
    data = tiny_data(40)
    settings = dict(method=method, l=l, lr=0.02, batch_size=5, weight_decay=0.01, seed=9,
                    logging=LogSettings(log_every=3))
    whole = Trainer(tiny_model(dropout=0.3), data, **settings)
    whole.run(8)
    first = Trainer(tiny_model(dropout=0.3), data, **settings)
    first.run(4)
    first.save(tmp_path / "run.pt")
    state = torch.load(tmp_path / "run.pt", weights_only=True)
    moments = state["optimizer"]["state"]
    old = None if method == "svag" else {
        "exp_avg": [moments[i]["exp_avg"] for i in sorted(moments)] if method == "adam" else None,
        "exp_avg_sq": [moments[i]["exp_avg_sq"] for i in sorted(moments)],
        "steps": [moments[i]["step"] for i in sorted(moments)]}
    torch.save(dict(state, optimizer=old), tmp_path / "old.pt")
    resumed = Trainer.load(tmp_path / "old.pt", tiny_model(seed=5, dropout=0.3), data)
    assert resumed.run(4).log == whole.result().log
    assert all(torch.equal(p, q) for p, q in zip(resumed.model.parameters(), whole.model.parameters()))


@pytest.mark.parametrize("method", ["sgd", "adam"])
def test_a_parameter_the_loss_does_not_reach_takes_a_zero_gradient(method):
    """The optimizers refuse a .grad of None; the trainer gives such a parameter g = 0, so it takes the step of
    g = 0 plus weight decay (as the written-out SGD and torch's Adam on a zero gradient do)."""
    model = tiny_model()
    model.unused = torch.nn.Parameter(torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64))
    start = model.unused.detach().clone()
    Trainer(model, tiny_data(40), method=method, lr=0.1, batch_size=5, weight_decay=0.5,
            logging=LogSettings(log_every=2)).run(2)
    reference = start.clone().requires_grad_()
    opt = (torch.optim.SGD if method == "sgd" else torch.optim.Adam)([reference], lr=0.1, weight_decay=0.5)
    for _ in range(2):
        reference.grad = torch.zeros_like(reference)
        opt.step()
    assert torch.equal(model.unused, reference) and not torch.equal(reference, start)
