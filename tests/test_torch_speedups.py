"""The trainer's GPU-ready options on CPU (``sdesim.torch.speedups``): bf16 autocast, torch.compile and SVAG's
fused pass.  Nothing here needs a GPU.

Tolerances: the fused pass is compared in float64, where the two computations differ only in the order of
their sums (unit roundoff 1.1e-16, amplified by |c₁| + |c₂| = √(2l − 1) and a few steps): 1e-10 leaves a
margin of 10⁴ (observed: ≤ 1.1e-16) and still catches any wrong weight, which moves the parameters by
about η|g| ≈ 1e-2.  bf16 rounds matrix products to 8 significant bits (relative 2⁻⁹ ≈ 0.002): after one
effective step at η = 1e-3 the displacement x₁ − x₀ must differ from float32's by more than 1e-4 of
itself (autocast took effect; float32's own rounding gives ~1e-7) and less than 5% (25 times bf16's
rounding, as the gradient passes through a few rounded products; observed 0.5–1.2%).  Parameters held
in bf16 would miss by 2⁻⁹|x| ≫ η|g| (observed 220–440% of the displacement).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sdesim.torch import speedups  # noqa: E402
from sdesim.torch.data import BatchSampler, TensorData, digits  # noqa: E402
from sdesim.torch.nets import cnn, mlp  # noqa: E402
from sdesim.torch.train_settings import stream_seeds  # noqa: E402
from sdesim.torch.training import LogSettings, Speed, Trainer  # noqa: E402
from tiny_torch import tiny_data, tiny_model  # noqa: E402

torch.set_num_threads(1)


def flat(params) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params])


def digits_for(kind: str, dtype=torch.float32, n: int = 200) -> TensorData:
    train, _ = digits(dtype=dtype)
    inputs = train.inputs[:n] if kind == "mlp" else train.inputs[:n].reshape(-1, 1, 8, 8)
    return TensorData(inputs, train.targets[:n])


def network(kind: str, dtype=torch.float32):
    model = mlp(64, 10, hidden=(32,), norm="group", seed=0) if kind == "mlp" else \
        cnn(1, 10, channels=(8, 8), norm="group", seed=0)
    return model.to(dtype)


# --- float32: the default path is the plain loop, bit for bit ------------------------------------------

def test_float32_without_compile_or_fusion_is_the_plain_loop_bit_for_bit():
    data = tiny_data(40, dtype=torch.float32)
    model = tiny_model(dtype=torch.float32)
    Trainer(model, data, method="sgd", lr=0.3, batch_size=5, seed=3, logging=LogSettings(log_every=10),
            speed=Speed(precision="float32", compile=False, fused=False)).run(10)
    reference = tiny_model(dtype=torch.float32)
    sampler = BatchSampler(len(data), 5, generator=torch.Generator().manual_seed(stream_seeds(3)[0]))
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.3)
    for _ in range(10):
        optimizer.zero_grad()
        inputs, targets = data.batch(sampler.draw())
        torch.nn.functional.cross_entropy(reference(inputs), targets).backward()
        optimizer.step()
    assert torch.equal(flat(model.parameters()), flat(reference.parameters()))


# --- bf16 autocast -----------------------------------------------------------------------------------

@pytest.mark.parametrize("settings,fused", [(dict(method="sgd"), False), (dict(method="svag", l=2), True),
                                            (dict(method="gd"), False)], ids=["sgd", "svag-fused", "gd"])
def test_bf16_moves_the_parameters_as_float32_does_to_bf16_rounding(settings, fused):
    data = digits_for("mlp")
    start = flat(network("mlp").parameters())
    runs = {}
    for precision in ("float32", "bf16"):
        trainer = Trainer(network("mlp"), data, lr=1e-3, batch_size=16, seed=0, logging=LogSettings(log_every=1),
                          speed=Speed(precision=precision, fused=fused), **settings)
        runs[precision] = (trainer, trainer.run(1))
    (plain, plain_log), (mixed, mixed_log) = runs["float32"], runs["bf16"]
    assert all(p.dtype == torch.float32 for p in mixed.params)          # parameters and updates stay float32
    moved, miss = flat(plain.params) - start, flat(mixed.params) - flat(plain.params)
    assert 1e-4 < float(miss.norm() / moved.norm()) < 0.05
    assert mixed_log.log[0]["train_loss"] == plain_log.log[0]["train_loss"]   # evaluation runs in float32
    assert mixed_log.config["precision"] == "bf16"


def test_bf16_needs_a_gpu_with_bfloat16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    with pytest.raises(ValueError, match=r"does not support bfloat16 .*is_bf16_supported\(\) is False"):
        speedups.check_precision("bf16", torch.device("cuda", 0), network("mlp"))


def test_inductor_without_a_cpp_compiler_is_refused_before_work():
    from torch._inductor import config

    with config.patch({"cpp.cxx": ("no-such-c++-compiler-sdesim",)}), \
            pytest.raises(ValueError, match=r"needs a C\+\+ compiler .* compile='aot_eager'"):
        Trainer(network("mlp"), digits_for("mlp"), speed=Speed(compile=True))


def bad_trainer(**changes):
    settings = dict(model=network("mlp"), train_data=digits_for("mlp"), batch_size=8)
    settings.update(changes)
    return Trainer(settings.pop("model"), settings.pop("train_data"), **settings)


BAD = [
    ("precision='fp16'", dict(speed=Speed(precision="fp16")), "unknown precision 'fp16'; allowed: 'float32', 'bf16'"),
    ("precision=None", dict(speed=Speed(precision=None)), "unknown precision None; allowed"),
    ("bf16 on a float64 model", dict(speed=Speed(precision="bf16"), model=tiny_model(), train_data=tiny_data(40)),
     "parameters are torch.float64; autocast leaves other dtypes alone"),
    ("compile='bogus'", dict(speed=Speed(compile="bogus")),
     "compile='bogus' is not a torch.compile backend here; allowed: .*"
     "'inductor'"),
    ("compile=1", dict(speed=Speed(compile=1)), "compile must be True, False or the name of a torch.compile backend"),
    ("fused=1", dict(method="svag", l=2, speed=Speed(fused=1)), "fused must be True or False, got 1"),
    ("fused sgd", dict(speed=Speed(fused=True)), "fused applies only to SVAG's two batches .* not method 'sgd'"),
    ("fused with batch norm", dict(method="adam", l=2, speed=Speed(fused=True), model=mlp(64, 10, hidden=(8,), seed=0)),
     r"fused=True .* batch norm in training mode \(layer '2' \(BatchNorm1d\)\).* Use fused=False"),
]


@pytest.mark.parametrize("changes,pattern", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_input_is_refused_with_a_message(changes, pattern):
    with pytest.raises(ValueError, match=pattern):
        bad_trainer(**changes)


def test_fused_at_l_1_is_one_batch_and_allows_batch_norm():
    model = mlp(64, 10, hidden=(8,), seed=0)
    reference = mlp(64, 10, hidden=(8,), seed=0)
    for m, fused in ((model, True), (reference, False)):
        Trainer(m, digits_for("mlp"), method="svag", l=1, batch_size=8, speed=Speed(fused=fused),
                logging=LogSettings(log_every=3)).run(3)
    assert torch.equal(flat(model.state_dict().values()), flat(reference.state_dict().values()))


# --- torch.compile -----------------------------------------------------------------------------------

def test_compile_with_inductor_matches_eager_to_float_rounding():
    """compile=True (inductor, C++ code generation: about 16 s cold on 2 shared cores, 3 s with its cache)."""
    data = tiny_data(40, dtype=torch.float32)
    runs = []
    for compile in (False, True):
        model = tiny_model(dtype=torch.float32)
        trainer = Trainer(model, data, method="svag", l=2, speed=Speed(fused=True, compile=compile),
                          logging=LogSettings(log_every=3), lr=0.3, batch_size=5, seed=3)
        runs.append((trainer, trainer.run(3)))
    (eager, eager_log), (compiled, compiled_log) = runs
    assert compiled_log.config["compile"] == "inductor"
    torch.testing.assert_close(flat(compiled.params), flat(eager.params), rtol=0, atol=1e-6)
    assert list(compiled.model.state_dict()) == list(eager.model.state_dict())    # no "_orig_mod." prefix


def test_compiled_bf16_fused_run_resumes_identically(tmp_path):
    data = digits_for("mlp")
    settings = dict(method="adam", l=2, speed=Speed(fused=True, precision="bf16", compile="aot_eager"),
                    logging=LogSettings(log_every=2), lr=0.01,
                    batch_size=8, seed=4)
    whole = Trainer(network("mlp"), data, **settings)
    whole.run(4)
    first = Trainer(network("mlp"), data, **settings)
    first.run(2)
    first.save(tmp_path / "run.pt")
    resumed = Trainer.load(tmp_path / "run.pt", mlp(64, 10, hidden=(32,), norm="group", seed=9), data)
    result = resumed.run(2)
    assert {k: resumed.config[k] for k in ("precision", "compile", "fused")} == \
        {"precision": "bf16", "compile": "aot_eager", "fused": True}
    assert torch.equal(flat(resumed.params), flat(whole.params)) and result.log == whole.result().log


# --- the fused SVAG pass -----------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["svag", "adam"])
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("l", [2, 4])
def test_fused_pass_equals_two_passes_to_float64_rounding(method, kind, l):
    data = digits_for(kind, torch.float64, n=120)
    lr = 0.1 if method == "svag" else 0.003
    runs = []
    for fused in (False, True):
        trainer = Trainer(network(kind, torch.float64), data, method=method, l=l, lr=lr, batch_size=8, seed=2,
                          weight_decay=0.01, logging=LogSettings(log_every=2), speed=Speed(fused=fused))
        runs.append((trainer, trainer.run(2)))
    (two, two_log), (one, one_log) = runs
    start = flat(network(kind, torch.float64).parameters())
    assert float((flat(two.params) - start).abs().max()) > 1e-3                 # the runs moved
    torch.testing.assert_close(flat(one.params), flat(two.params), rtol=1e-10, atol=1e-12)
    assert one_log.log[-1]["step_loss"] == pytest.approx(two_log.log[-1]["step_loss"], rel=1e-12)
    assert one.examples == two.examples
