"""The torch training loop: SVAG's gradient moments, l = 1 ≡ SGD, checkpoints, divergence (bad input:
test_torch_bad_input.py).

Statistical checks use fixed seeds (fresh ones with SDESIM_TEST_SEED, tests/seeds.py) and 5 standard errors
(two-sided false alarm ≈ 6e-7 per check).
"""

from __future__ import annotations

import json
import math

import pytest

from seeds import seed

torch = pytest.importorskip("torch")

from sdesim.methods import svag_weights  # noqa: E402
from sdesim.torch.data import BatchSampler, TensorData, covariance_factor  # noqa: E402
from sdesim.torch.train_settings import stream_seeds  # noqa: E402
from sdesim.torch.training import DataSettings, LogSettings, Trainer, train  # noqa: E402
from tiny_torch import tiny_data, tiny_model  # noqa: E402

torch.set_num_threads(1)


def per_example_gradients(model, data) -> torch.Tensor:
    """(N, d) matrix of ∇ℓᵢ by torch.func (an independent reference for the batch moments)."""
    from torch.func import functional_call, grad, vmap

    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}

    def loss_one(values, x, y):
        out = functional_call(model, values, (x[None],))
        return torch.nn.functional.cross_entropy(out, y[None])

    grads = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, data.inputs, data.targets)
    return torch.cat([grads[n].reshape(len(data), -1) for n in names], dim=1)


# --- SVAG's combined gradient: mean ∇L, covariance l·Cov(batch mean) ------------------------------

@pytest.mark.parametrize("l,sampling", [(4, "replacement"), (3, "subset")])
def test_svag_gradient_has_minibatch_mean_and_l_times_its_covariance(l, sampling):
    data, model, batch = tiny_data(), tiny_model(), 3
    g = per_example_gradients(model, data)
    mean = g.mean(0)
    sigma1 = (g - mean).T @ (g - mean) / len(data)
    cov = l * covariance_factor(sampling, len(data), batch) * sigma1 / batch

    trainer = Trainer(model, data, method="svag", l=l, batch_size=batch, data=DataSettings(sampling=sampling),
                      seed=seed(11))
    draws = torch.stack([trainer.combined_gradient() for _ in range(4000)])
    n = len(draws)
    z_mean = (draws.mean(0) - mean) / torch.sqrt(torch.diag(cov) / n)
    assert torch.all(z_mean.abs() < 5), z_mean

    centred = draws - mean
    products = centred[:, :, None] * centred[:, None, :]
    se = products.std(0) / math.sqrt(n)
    z_cov = (products.mean(0) - cov) / se
    assert torch.all(z_cov.abs() < 5), z_cov.abs().max()
    # the check has power: the covariance without the factor l (or of disjoint halves) is far off
    trace, trace_se = (centred ** 2).sum(1).mean(), (centred ** 2).sum(1).std() / math.sqrt(n)
    assert abs(trace - torch.trace(cov)) < 5 * trace_se
    assert abs(trace - torch.trace(cov) / l) > 20 * trace_se
    # the parameters did not move
    assert torch.equal(torch.cat([p.reshape(-1) for p in model.parameters()]),
                       torch.cat([p.reshape(-1) for p in tiny_model().parameters()]))


def test_each_batch_has_its_own_forward_pass():
    """Batch norm sees batches of B: 2l separate forward passes of B examples per effective step."""
    sizes = []
    model = tiny_model(norm="batch")
    model[0].register_forward_hook(lambda module, inputs, output: sizes.append(len(inputs[0])))
    trainer = Trainer(model, tiny_data(20), method="svag", l=3, batch_size=4,
                      logging=LogSettings(log_every=5, eval_every=5))
    trainer.run(0)                    # the log entry at step 0 evaluates the whole training set
    sizes.clear()
    trainer.run(2)
    assert sizes == [4] * (2 * 3 * 2)


# --- l = 1 is SGD, bit for bit, and SGD is the textbook loop ----------------------------------------

def test_svag_with_l_1_is_sgd_bit_for_bit():
    data = tiny_data(40)
    runs = []
    for method in ("sgd", "svag"):
        model = tiny_model(norm="batch", dropout=0.2)
        result = train(model, data, method=method, l=1, lr=0.3, batch_size=5, weight_decay=0.01, steps=25,
                       logging=LogSettings(log_every=5), seed=3, schedule={10: 0.5})
        runs.append((model, result))
    (m1, r1), (m2, r2) = runs
    for p, q in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(p, q)
    assert r1.log == r2.log and r1.examples == r2.examples == 25 * 5


def test_sgd_matches_torch_optim_sgd_bit_for_bit():
    data = tiny_data(40)
    model = tiny_model(dropout=0.2)
    train(model, data, method="sgd", lr=0.3, batch_size=5, weight_decay=0.01, steps=20, seed=3,
          logging=LogSettings(log_every=20))

    reference = tiny_model(dropout=0.2)
    sampler_seed, _, torch_seed = stream_seeds(3)
    sampler = BatchSampler(len(data), 5, generator=torch.Generator().manual_seed(sampler_seed))
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.3, weight_decay=0.01)
    torch.manual_seed(torch_seed)
    for _ in range(20):
        optimizer.zero_grad()
        inputs, targets = data.batch(sampler.draw())
        torch.nn.functional.cross_entropy(reference(inputs), targets).backward()
        optimizer.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        assert torch.equal(p, q)


def test_svag_matches_the_update_written_out():
    """l small steps of (η_k/l)(c₁∇L₁ + c₂∇L₂ + λx), schedule in effective steps, λ unchanged across l."""
    data, l, lr, decay, batch = tiny_data(30), 3, 0.2, 0.05, 4
    model = tiny_model()
    train(model, data, method="svag", l=l, lr=lr, batch_size=batch, weight_decay=decay, steps=6, seed=5,
          schedule={4: 0.1}, logging=LogSettings(log_every=6))

    reference = tiny_model()
    sampler = BatchSampler(len(data), batch, generator=torch.Generator().manual_seed(stream_seeds(5)[0]))
    c1, c2 = svag_weights(l)
    for step in range(6):
        eta = lr * (0.1 if step >= 4 else 1.0)
        for _ in range(l):
            reference.zero_grad()
            for c in (c1, c2):
                inputs, targets = data.batch(sampler.draw())
                (c * torch.nn.functional.cross_entropy(reference(inputs), targets)).backward()
            with torch.no_grad():
                for p in reference.parameters():
                    p -= eta / l * (p.grad + decay * p)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-13)


# --- checkpoints ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,l,norm", [("svag", 2, "batch"), ("ngd", 1, None)])
def test_resume_from_checkpoint_is_identical(tmp_path, method, l, norm):
    data, test = tiny_data(40), tiny_data(10, seed=2)
    settings = dict(method=method, l=l, lr=0.2, batch_size=5, weight_decay=0.01, logging=LogSettings(log_every=3),
                    seed=9,
                    schedule={5: 0.5}, test_data=test)
    whole = Trainer(tiny_model(norm=norm, dropout=0.3), data, **settings)
    whole.run(14)

    first = Trainer(tiny_model(norm=norm, dropout=0.3), data, **settings)
    first.run(7)                      # 7 is not a multiple of log_every: pending losses are saved too
    first.save(tmp_path / "run.pt")
    fresh_model = tiny_model(seed=123, norm=norm, dropout=0.3)
    resumed = Trainer.load(tmp_path / "run.pt", fresh_model, data, test_data=test)
    result = resumed.run(7)

    for p, q in zip(whole.model.state_dict().values(), fresh_model.state_dict().values()):
        assert torch.equal(p, q)
    assert result.log == whole.result().log and result.steps == 14 and result.examples == whole.examples


# --- divergence, logs, monitors ----------------------------------------------------------------------

def test_a_diverging_run_stops_cleanly_and_keeps_its_log():
    data = TensorData(torch.randn(40, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)),
                      torch.randn(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    trainer = Trainer(tiny_model(), data, method="svag", l=2, loss="mse", lr=50.0, batch_size=5,
                      logging=LogSettings(log_every=2))
    result = trainer.run(200)
    assert result.diverged and result.stopped["step"] < 200
    assert "at effective step" in result.stopped["reason"]
    assert any(word in result.stopped["reason"] for word in ("nan", "inf"))
    assert result.log and all(entry["step"] <= result.stopped["step"] for entry in result.log)
    assert all(math.isfinite(entry["norm2"]) for entry in result.log)
    with pytest.raises(RuntimeError, match="cannot continue"):
        trainer.run(1)


def test_log_is_on_effective_steps_and_converts_to_json():
    data, test = tiny_data(40), tiny_data(10, seed=2)
    results = {l: train(tiny_model(), data, test_data=test, method="svag", l=l, lr=0.1, batch_size=5, steps=8,
                        logging=LogSettings(log_every=2, eval_every=4), schedule={4: 0.1}) for l in (1, 2)}
    for l, result in results.items():
        columns = result.columns()
        assert columns["step"] == [0, 2, 4, 6, 8]
        assert columns["lr"] == [0.1, 0.1, pytest.approx(0.01), pytest.approx(0.01), pytest.approx(0.01)]
        assert [v is None for v in columns["test_acc"]] == [False, True, False, True, False]
        assert columns["examples"][-1] == 8 * l * (5 if l == 1 else 10)
        assert json.loads(result.to_json())["log"] == result.log
        assert result.table().count("\n") == len(result.log) + 1


def test_monitor_is_logged_and_cannot_change_the_trajectory():
    data = tiny_data(40)
    calls = []

    def monitor(model, step):
        calls.append(step)
        torch.rand(100)                         # consumes the global generator (dropout's)
        return {"noise": 1.5 * step}

    plain, watched = tiny_model(dropout=0.3), tiny_model(dropout=0.3)
    train(plain, data, batch_size=5, steps=9, logging=LogSettings(log_every=3), seed=2)
    result = train(watched, data, batch_size=5, steps=9,
                   logging=LogSettings(log_every=3, monitor=monitor, monitor_every=3), seed=2)
    assert calls == [0, 3, 6, 9] and result.columns()["noise"] == [0.0, 4.5, 9.0, 13.5]
    for p, q in zip(plain.parameters(), watched.parameters()):
        assert torch.equal(p, q)


# --- data sources ------------------------------------------------------------------------------------

class PlainDataset(torch.utils.data.Dataset):
    """A map-style Dataset with nothing but __len__ and __getitem__."""

    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data.inputs[i], self.data.targets[i]


def test_any_dataset_trains_as_the_same_tensors_do():
    data = tiny_data(30)
    finals = []
    for source in (data, (data.inputs, data.targets), PlainDataset(data)):
        model = tiny_model()
        result = train(model, source, method="svag", l=2, lr=0.2, batch_size=4, steps=5,
                       logging=LogSettings(log_every=5), seed=1)
        finals.append((torch.cat([p.reshape(-1) for p in model.parameters()]), result.log))
    for params, log in finals[1:]:
        assert torch.equal(params, finals[0][0]) and log == finals[0][1]


def test_digits_are_bundled_and_split_by_class():
    from sdesim.torch.data import digits

    train_data, test_data = digits(test_fraction=0.25, seed=0)
    assert len(train_data) + len(test_data) == 1797 and abs(len(test_data) - 450) <= 10
    assert torch.bincount(test_data.targets).min() >= 40
    assert train_data.inputs.shape[1] == 64 and train_data.inputs.dtype == torch.float32
    torch.testing.assert_close(train_data.inputs.mean(0), torch.zeros(64), atol=1e-5, rtol=0)


def test_cifar10_never_downloads(tmp_path):
    from sdesim.torch.data import cifar10

    with pytest.raises((ImportError, FileNotFoundError), match="torchvision|no CIFAR-10"):
        cifar10(tmp_path)
    assert not any(tmp_path.iterdir())
