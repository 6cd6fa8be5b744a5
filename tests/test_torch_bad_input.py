"""The torch backend's bad-input table: every refused input, what it raises or warns, and its message.

Each row of `BAD` is (input, exception or warning, message pattern); the message names what was
wrong and what is allowed.  Every row is refused before any training step runs: the table runs with
the trainer's update step replaced by a failure.  Focused tests follow for the behaviour behind some
rows: evaluation drawing nothing from the training run's random stream, the one cadence knob of a
monitored run, the losses the monitor shares with the trainer, and a diverged run's table.
"""

from __future__ import annotations

import importlib.util
import math

import pytest

torch = pytest.importorskip("torch")

from sdesim.problems import double_well, quadratic  # noqa: E402
from sdesim.torch import checkpoint, nets, nsr  # noqa: E402
from sdesim.torch.scaling_prediction import predict_scaling  # noqa: E402
from sdesim.torch.data import (  # noqa: E402
    BatchSampler, DatasetData, TensorData, as_data, digits, synthetic_regression,
)
from sdesim.torch._checks import squared_error  # noqa: E402
from sdesim.torch.scaling import scale_config  # noqa: E402
from sdesim.torch.loggers import CSVLogger, read_csv  # noqa: E402
from sdesim.torch.training import Checkpoints, DataSettings, LogSettings, Trainer, train  # noqa: E402
from tiny_torch import tiny_data, tiny_model  # noqa: E402

torch.set_num_threads(1)
CUDA = torch.cuda.is_available()
TORCHSDE = importlib.util.find_spec("torchsde") is not None


class Augmented(torch.utils.data.Dataset):
    """``tiny_data`` read through a random shift drawn from torch's global generator (an augmentation)."""

    def __init__(self, n=12, dtype=torch.float64):
        self.data = tiny_data(n, dtype=dtype)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        inputs = self.data.inputs[i]
        return inputs + 0.1 * torch.randn(inputs.shape, dtype=inputs.dtype), self.data.targets[i]


class NoParameters(torch.nn.Module):
    def forward(self, x):
        return x[:, :2]


def frozen_model():
    model = tiny_model()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def trainer(**changes):
    """A Trainer of ``tiny_model()`` on 12 examples with batches of 3, with ``changes`` to its arguments."""
    settings = dict(model=tiny_model(), train_data=tiny_data(12), batch_size=3)
    settings.update(changes)
    return Trainer(settings.pop("model"), settings.pop("train_data"), **settings)


def saved(**changes) -> str:
    """A checkpoint of ``trainer(**changes)`` before any step, in the current folder."""
    trainer(**changes).save("run.pt")
    return "run.pt"


def junk() -> str:
    """A file that is no checkpoint, in the current folder."""
    with open("junk.pt", "wb") as handle:
        handle.write(b"not a checkpoint")
    return "junk.pt"


def torn_csv() -> str:
    """A CSV log whose last row was cut while being written (0.91 of 0.91796875), in the current folder."""
    with open("run.csv", "w", newline="") as handle:
        handle.write("step,loss\r\n0,0.5\r\n1,0.91")
    return "run.csv"


def monitor(every=10, **settings):
    """An NSRMonitor of 3 batches of 3 from ``tiny_data(12)``, every ``every`` steps."""
    return nsr.NSRMonitor(tiny_data(12), 3, **{"m": 3, "every": every, **settings})


def empty():
    return TensorData(torch.ones(0, 4, dtype=torch.float64), torch.ones(0, dtype=torch.int64))


def regression(n=12):
    return synthetic_regression(n, dim=4, dtype=torch.float64)


def measurements(*rows, lr=0.1):
    """A log of (step, Ĝ, N̂) measurements."""
    return [{"step": s, "lr": lr, nsr.SIGNAL: G, nsr.NOISE: N} for s, G, N in rows]


def needs(condition, why):
    return pytest.mark.skipif(not condition, reason=why)


NO_CUDA = needs(not CUDA, "CUDA is available here")
NOT_A_STEP = "CUDA is not available|resumes with identical numbers only on the same kind of device"

#  input                                                          raises or warns   message
BAD = [
    # -- the trainer's arguments
    ("model without parameters", lambda: trainer(model=NoParameters()), ValueError,
     "no parameters that require gradients"),
    ("frozen model", lambda: trainer(model=frozen_model()), ValueError, "no parameters that require gradients"),
    ("model not a Module", lambda: trainer(model=lambda x: x), TypeError, "model must be a torch.nn.Module"),
    ("batch_size=7 of 12", lambda: trainer(batch_size=7), ValueError, "fewer than two batches of batch_size=7"),
    ("l=0", lambda: trainer(method="svag", l=0), ValueError, "l must be a positive integer"),
    ("l=-2", lambda: trainer(method="svag", l=-2), ValueError, "l must be a positive integer"),
    ("l=2.0", lambda: trainer(method="svag", l=2.0), ValueError, "l must be a positive integer"),
    ("l=True", lambda: trainer(method="svag", l=True), ValueError, "l must be a positive integer"),
    ("l='2'", lambda: trainer(method="svag", l="2"), ValueError, "l must be a positive integer"),
    ("sgd with l=2", lambda: trainer(method="sgd", l=2), ValueError, "takes no l .* l > 1 is for 'svag'"),
    ("method='adamw'", lambda: trainer(method="adamw"), ValueError, "unknown method 'adamw'; allowed: 'sgd'.*'adam'"),
    ("device='cuda:7'", lambda: trainer(device="cuda:7"), ValueError, "device 'cuda:7'"),
    ("device='bogus'", lambda: trainer(device="bogus"), ValueError, "device 'bogus' is not a torch device; use"),
    ("device='mps'", lambda: trainer(device="mps"), ValueError, "only 'cpu' and 'cuda'"),
    pytest.param("device='cuda' without CUDA", lambda: trainer(device="cuda"), ValueError,
                 "CUDA is not available here .* use 'cpu'", marks=NO_CUDA),
    ("lr=0", lambda: trainer(lr=0.0), ValueError, "lr .* must be a finite number > 0"),
    ("lr=nan", lambda: trainer(lr=float("nan")), ValueError, "lr .* must be a finite number > 0"),
    ("weight_decay=-1", lambda: trainer(weight_decay=-1.0), ValueError, "weight_decay .* must be a finite number >= 0"),
    ("sampling='epoch'", lambda: trainer(data=DataSettings(sampling="epoch")), ValueError,
     "unknown sampling 'epoch'; allowed"),
    ("seed=-1", lambda: trainer(seed=-1), ValueError, "seed must be an integer >= 0"),
    ("chunk_size=0", lambda: trainer(data=DataSettings(chunk_size=0)), ValueError,
     "chunk_size must be a positive integer"),
    ("ngd with batch norm", lambda: trainer(method="ngd", model=tiny_model(norm="batch")), ValueError,
     "batch norm in training mode .* Use group norm"),
    ("gd with batch norm", lambda: trainer(method="gd", model=tiny_model(norm="batch")), ValueError,
     "batch norm in training mode"),
    ("ngd_sample_size=2", lambda: trainer(method="ngd", data=DataSettings(ngd_sample_size=2)), ValueError,
     "ngd_sample_size M=2 is too small .* use M well above B"),
    ("ngd_sample_size=13 of 12", lambda: trainer(method="ngd", data=DataSettings(ngd_sample_size=13)), ValueError,
     "ngd_sample_size=13 exceeds the training set's 12 examples"),
    ("ngd_sample_size with sgd", lambda: trainer(method="sgd", data=DataSettings(ngd_sample_size=8)), ValueError,
     "applies only to method 'ngd'"),
    ("schedule milestone -1", lambda: trainer(schedule={-1: 0.1}), ValueError, "milestones are effective steps"),
    ("schedule factor 0", lambda: trainer(schedule={10: 0.0}), ValueError, "schedule factor at step 10 must be"),
    ("schedule a list", lambda: trainer(schedule=[0.1]), ValueError, "schedule must be None, a dict"),
    ("eval_every=6, log_every=4", lambda: trainer(logging=LogSettings(log_every=4, eval_every=6)), ValueError,
     "eval_every=6 must be a multiple of log_every=4"),
    ("monitor_every=6, log_every=4", lambda: trainer(logging=LogSettings(log_every=4, monitor_every=6)), ValueError,
     "monitor_every=6 must be a multiple of log_every=4"),
    ("steps=2.5", lambda: train(tiny_model(), tiny_data(), batch_size=3, steps=2.5), ValueError,
     "steps must be an integer >= 0"),
    ("run(-1)", lambda: trainer().run(-1), ValueError, "steps must be an integer >= 0"),
    # -- the loss
    ("loss='hinge'", lambda: trainer(loss="hinge"), ValueError,
     "unknown loss 'hinge'; allowed: 'cross_entropy', 'mse' or a function"),
    ("loss returns the batch mean", lambda: trainer(loss=lambda out, y: torch.nn.functional.cross_entropy(out, y)),
     ValueError, r"one loss per example \(shape \(B,\)\)"),
    ("mse on class labels", lambda: trainer(loss="mse"), ValueError, "needs outputs and targets of the same shape"),
    ("cross_entropy on one output", lambda: trainer(model=torch.nn.Linear(4, 1).double(), train_data=regression()),
     ValueError, "over a single output it is identically zero; for regression use loss 'mse'"),
    # -- the data
    ("float64 model, float32 data", lambda: trainer(train_data=tiny_data(12, dtype=torch.float32)), ValueError,
     "parameters are torch.float64 but the training inputs are torch.float32; .* convert"),
    ("float32 model, float64 data", lambda: trainer(model=tiny_model(dtype=torch.float32)), ValueError,
     "parameters are torch.float32 but the training inputs are torch.float64"),
    ("float32 test data", lambda: trainer(test_data=tiny_data(6, dtype=torch.float32)), ValueError,
     "the test inputs are torch.float32"),
    ("empty test data", lambda: trainer(test_data=empty()), ValueError,
     "test_data has no examples; pass None"),
    ("data an int", lambda: trainer(train_data=3), TypeError, "data must be a TensorData, a .* pair, or a map-style"),
    ("ngd on augmented data", lambda: trainer(method="ngd", train_data=Augmented()), ValueError,
     "method 'ngd' needs a fixed training set.* use a data set without random transforms"),
    ("gd on augmented data", lambda: trainer(method="gd", train_data=Augmented()), UserWarning,
     "method 'gd': .* read differently twice"),
    ("TensorData of lists", lambda: TensorData([1.0], [0]), TypeError, "TensorData takes two torch tensors"),
    ("TensorData lengths differ", lambda: TensorData(torch.ones(3, 2), torch.ones(4)), ValueError,
     "same first dimension"),
    ("DatasetData of an int", lambda: DatasetData(3), TypeError, "needs a map-style Dataset"),
    ("DatasetData device='bogus'", lambda: DatasetData(Augmented(), device="bogus"), ValueError,
     "device 'bogus' is not a torch device"),
    pytest.param("DatasetData device='cuda'", lambda: DatasetData(Augmented(), device="cuda"), ValueError,
                 "CUDA is not available here", marks=NO_CUDA),
    ("as_data of an int", lambda: as_data(3), TypeError, "data must be a TensorData"),
    ("BatchSampler sampling", lambda: BatchSampler(10, 2, sampling="epoch", generator=torch.Generator()), ValueError,
     "unknown sampling 'epoch'"),
    ("BatchSampler batch_size=11 of 10", lambda: BatchSampler(10, 11, generator=torch.Generator()), ValueError,
     "between 1 and the data set's size 10"),
    ("digits test_fraction=1.5", lambda: digits(test_fraction=1.5), ValueError, "strictly between 0 and 1"),
    # -- evaluation
    ("evaluate an int", lambda: trainer().evaluate(3), TypeError, "data must be a TensorData"),
    ("evaluate nothing", lambda: trainer().evaluate(empty()), ValueError, "at least one example"),
    ("evaluate float32 inputs", lambda: trainer().evaluate(tiny_data(6, dtype=torch.float32)), ValueError,
     "the evaluated inputs are torch.float32"),
    # -- monitors
    ("monitor not callable", lambda: trainer(logging=LogSettings(monitor=3)), TypeError, "monitor must be a function"),
    ("monitor returns a number", lambda: trainer(logging=LogSettings(monitor=lambda model, step: 3)).run(1), TypeError,
     "monitor must return a dict of metrics"),
    ("monitor metric 'norm2'",
     lambda: trainer(logging=LogSettings(monitor=lambda model, step: {"norm2": 1.0})).run(1), ValueError,
     r"monitor metrics \['norm2'\] clash"),
    ("NSRMonitor every=15, log_every=10", lambda: trainer(logging=LogSettings(monitor=monitor(every=15))), ValueError,
     "every=15 must be a multiple of log_every=10: .* measure only every 30 steps; use every=20"),
    ("NSRMonitor every=20, monitor_every=10",
     lambda: trainer(logging=LogSettings(monitor=monitor(every=20), monitor_every=10)),
     ValueError, "monitor_every=10 differs from the NSRMonitor's every=20: .* leave monitor_every out"),
    ("NSRMonitor of cross-entropy, mse run", lambda: trainer(model=torch.nn.Linear(4, 1).double(),
                                                              train_data=regression(), loss="mse", logging=LogSettings(monitor=monitor())),
     ValueError, "measures loss 'cross_entropy' but the run trains on 'mse'.* takes 'cross_entropy', 'mse'"),
    ("NSRMonitor of cross-entropy, loss function",
     lambda: trainer(loss=squared_error, logging=LogSettings(monitor=monitor())),
     ValueError, "measures loss 'cross_entropy' but the run trains on a loss function"),
    ("NSRMonitor loss_fn='hinge'", lambda: monitor(loss_fn="hinge"), ValueError,
     "unknown loss 'hinge'; allowed: 'cross_entropy', 'mse'"),
    ("NSRMonitor m=2", lambda: monitor(m=2), ValueError, "m must be at least 3"),
    ("NSRMonitor batch_size=13 of 12", lambda: nsr.NSRMonitor(tiny_data(12), 13), ValueError,
     "exceeds the data set's size"),
    ("NSRMonitor sampling", lambda: monitor(sampling="bootstrap"), ValueError, "unknown sampling"),
    ("NSRMonitor of an object", lambda: nsr.NSRMonitor(object(), 2), ValueError, "dataset must be"),
    ("NSRMonitor.batches device='bogus'", lambda: monitor().batches(0, device="bogus"), ValueError,
     "device 'bogus' is not a torch device"),
    pytest.param("NSRMonitor.batches device='cuda'", lambda: monitor().batches(0, device="cuda"), ValueError,
                 "CUDA is not available here", marks=NO_CUDA),
    ("NSRMonitor cross-entropy on one output",
     lambda: nsr.NSRMonitor(regression(), 3, m=3, every=1)(torch.nn.Linear(4, 1).double(), 0), ValueError,
     "over a single output it is identically zero; for regression use loss 'mse'"),
    ("NSRMonitor float32 model", lambda: monitor(every=1)(tiny_model(dtype=torch.float32), 0), ValueError,
     "parameters are torch.float32 but the measured batches' inputs are torch.float64"),
    # -- N/G estimates and the scaling prediction
    ("2 gradients", lambda: nsr.nsr_from_gradients(torch.ones(2, 3)), ValueError, "at least 3 minibatch gradients"),
    ("a vector of gradients", lambda: nsr.nsr_from_gradients(torch.ones(3)), ValueError, "m×d array"),
    ("NaN gradients", lambda: nsr.nsr_from_gradients(torch.full((3, 2), float("nan"))), ValueError, "NaN or inf"),
    ("zero gradients", lambda: nsr.nsr_from_gradients(torch.zeros(3, 2)), ValueError,
     "every minibatch gradient is exactly zero: .* is it the loss the model is trained on"),
    ("2 batches", lambda: nsr.estimate_nsr(tiny_model(), torch.nn.functional.cross_entropy, []), ValueError,
     "need at least 3 batches"),
    ("plateau without measurements", lambda: predict_scaling(measurements((0, 1.0, 1.0)), 8, 0.1, plateau=(5, 9)),
     ValueError, "no measurements"),
    ("G = 0", lambda: predict_scaling((0.0, 1.0), 8, 0.1), ValueError, "signal must be > 0"),
    ("lr=-0.1", lambda: predict_scaling((1.0, 1.0), 8, -0.1), ValueError, "lr must be"),
    ("a log without B and η", lambda: predict_scaling(measurements((0, 1.0, 1.0))), ValueError,
     "batch_size and lr .* are needed unless source is a TrainResult"),
    ("a plateau across a decay", lambda: predict_scaling(run_with_lrs(0.4, 0.4, 0.04), plateau=(0, 20)),
     ValueError, r"learning rates on the plateau are \[0.04, 0.4\], not one: .* or pass lr="),
    ("B* beyond the data set", lambda: predict_scaling((1.0, 100.0), 8, 0.1, n_train=1000), UserWarning,
     "B\\* = 1616 exceeds the training set's 1000 examples"),
    ("a drifting plateau", lambda: predict_scaling(measurements(*[(s, 1.0 + s / 100, 5.0) for s in range(0, 60, 10)]),
                                                      8, 0.1), UserWarning,
     r"Ĝ \(grad_norm2\) drifts along the log: .* choose a later plateau or train longer"),
    # -- adaptive methods and the scaling rules
    ("adam beta1=1", lambda: trainer(method="adam", beta1=1.0), ValueError, r"beta1 must be a number in \[0, 1\), got 1.0"),
    ("rmsprop beta2=-0.1", lambda: trainer(method="rmsprop", beta2=-0.1), ValueError,
     r"beta2 must be a number in \[0, 1\), got -0.1"),
    ("adam eps=0", lambda: trainer(method="adam", eps=0.0), ValueError, r"eps must be a finite number > 0 .*got 0.0"),
    ("adam eps=nan", lambda: trainer(method="adam", eps=math.nan), ValueError, "eps must be a finite number > 0"),
    ("rmsprop bias_correction", lambda: trainer(method="rmsprop", bias_correction=False), ValueError,
     "method 'rmsprop' takes no bias_correction .*no first moment and no bias correction; use method='adam'"),
    ("rmsprop beta1", lambda: trainer(method="rmsprop", beta1=0.9), ValueError, "method 'rmsprop' takes no beta1"),
    ("paper_rmsprop beta1", lambda: trainer(method="paper_rmsprop", beta1=0.5), ValueError,
     "method 'paper_rmsprop' takes no beta1 .*β₁ = 0 with bias correction"),
    ("adam bias_correction='yes'", lambda: trainer(method="adam", bias_correction="yes"), ValueError,
     "bias_correction must be True or False, got 'yes'"),
    ("sgd beta2", lambda: trainer(beta2=0.99), ValueError,
     "beta2 applies only to the adaptive methods .*'adam'.*not method 'sgd'"),
    ("svag eps", lambda: trainer(method="svag", l=2, eps=1e-8), ValueError, "eps applies only to the adaptive methods"),
    ("gd beta1", lambda: trainer(method="gd", beta1=0.9), ValueError, "beta1 applies only to the adaptive methods"),
    ("ngd bias_correction", lambda: trainer(method="ngd", bias_correction=True), ValueError,
     "bias_correction applies only to the adaptive methods .*not method 'ngd'"),
    ("gd l=2", lambda: trainer(method="gd", l=2), ValueError, "method 'gd' takes no l .*'svag', 'rmsprop', 'adam'"),
    ("square-root rule on sgd", lambda: scale_config(dict(method="sgd", lr=0.1, batch_size=8), 2), ValueError,
     "the square-root rule is for the adaptive methods .*not method 'sgd'; use rule='linear'"),
    ("rule='cubic'", lambda: scale_config(dict(method="adam", lr=0.1, batch_size=8), 2, rule="cubic"), ValueError,
     "unknown rule 'cubic'; allowed: 'square_root', 'linear'"),
    ("linear rule on gd", lambda: scale_config(dict(method="gd", lr=0.1, batch_size=8), 2, rule="linear"), ValueError,
     "method 'gd' uses the full data set"),
    ("kappa=20 on beta2=0.9", lambda: scale_config(dict(method="rmsprop", lr=0.1, batch_size=8, beta2=0.9), 20),
     ValueError, r"kappa=20.0 makes beta2 = 1 - kappa\*\(1 - 0.9\) = .* < 0; .*allows kappa <= "),
    ("kappa=0.3 on batch 8", lambda: scale_config(dict(method="adam", lr=0.1, batch_size=8), 0.3), ValueError,
     r"kappa \* batch_size = 2.4.* is not a whole number"),
    ("a schedule function", lambda: scale_config(dict(method="adam", lr=0.1, batch_size=8, schedule=abs), 2),
     ValueError, "cannot be rescaled: .*rescale a schedule function yourself"),
    ("milestone 5 over kappa 2", lambda: scale_config(dict(method="adam", lr=0.1, batch_size=8, schedule={5: 0.1}), 2),
     ValueError, "schedule milestone 5 / kappa=2.0 = 2.5 is not a whole effective step"),
    # -- checkpoints
    ("a junk checkpoint", lambda: Trainer.load(junk(), tiny_model(), tiny_data()), ValueError,
     "not a readable sdesim checkpoint"),
    ("a missing checkpoint", lambda: Trainer.load("missing.pt", tiny_model(), tiny_data()), FileNotFoundError,
     "no checkpoint file"),
    ("a checkpoint without keys", lambda: checkpoint.write("run.pt", {"step": 0}), ValueError,
     "checkpoint state lacks"),
    ("checkpoints in a folder under a file", lambda: trainer(checkpoints=Checkpoints(junk() + "/ck", every=1)),
     ValueError, "Checkpoints directory 'junk.pt/ck' cannot be created \\(not a directory \\(ENOTDIR\\)\\)"),
    # -- loggers
    ("a torn CSV log", lambda: read_csv(torn_csv()), ValueError,
     "'run.csv' is torn: its last line \\(3\\) does not end with a line break; the file was cut while being written"),
    ("a CSV log under a file", lambda: CSVLogger(junk() + "/run.csv"), ValueError,
     "CSVLogger folder 'junk.pt' is a file, not a folder"),
    ("resume on other data", lambda: Trainer.load(saved(), tiny_model(), tiny_data(16)), ValueError,
     "trained on 12 examples, this data set has 16"),
    ("resume without the schedule function", lambda: Trainer.load(saved(schedule=lambda k: 1.0), tiny_model(),
                                                                  tiny_data()),
     ValueError, "used a schedule function: pass the same one"),
    ("resume with another schedule", lambda: Trainer.load(saved(schedule={5: 0.5}), tiny_model(), tiny_data(),
                                                          schedule={5: 0.1}),
     ValueError, "differs from the saved run's"),
    ("resume without the loss function", lambda: Trainer.load(saved(loss=lambda out, y: -out[:, 0]), tiny_model(),
                                                              tiny_data()),
     ValueError, "used a loss function: pass the same one"),
    ("resume on a GPU", lambda: Trainer.load(saved(), tiny_model(), tiny_data(), device="cuda"), ValueError,
     NOT_A_STEP),
    ("resume without the monitor",
     lambda: Trainer.load(saved(logging=LogSettings(monitor=lambda model, step: {})), tiny_model(),
                                                        tiny_data()),
     UserWarning, "the saved run was monitored .* no monitor was passed: its metrics stop at step 0; pass the same"),
    # -- networks
    ("norm='layer'", lambda: nets.scale_invariant_mlp(64, 10, norm="layer"), ValueError, "unknown norm 'layer'"),
    ("groups=4, width 30", lambda: nets.scale_invariant_mlp(64, 10, hidden=(30,), norm="group", groups=4), ValueError,
     "must divide every layer width"),
    ("groups=4, width 4", lambda: nets.scale_invariant_mlp(64, 10, hidden=(4,), norm="group", groups=4), ValueError,
     "at least 2 channels per group"),
    ("no channels", lambda: nets.scale_invariant_cnn(1, 10, channels=()), ValueError, "at least one layer"),
    ("in_features=0", lambda: nets.mlp(0, 10), ValueError, "in_features must be a positive integer"),
    ("weight_norm2 of ReLU", lambda: nets.weight_norm2(torch.nn.ReLU()), ValueError,
     "no parameters that require gradients"),
    ("batch norm of one value", lambda: nets.InvariantBatchNorm(3).train()(torch.ones(1, 3)), ValueError,
     "at least 2"),
    # -- the synthetic problems on torchsde
    pytest.param("torchsde: double well", lambda: sde().to_torchsde(double_well(1), lr=0.1), ValueError,
                 "no linear-quadratic form", marks=needs(TORCHSDE, "needs torchsde")),
    pytest.param("torchsde: cuda:7", lambda: sde().solve(quadratic(2), device="cuda:7"), ValueError,
                 "device 'cuda:7'|CUDA is not available", marks=needs(TORCHSDE, "needs torchsde")),
    pytest.param("torchsde: dt not dividing", lambda: sde().solve(quadratic(2), lr=0.1, dt=0.03, steps=2), ValueError,
                 "not a whole number", marks=needs(TORCHSDE, "needs torchsde")),
    pytest.param("torchsde: paths=0", lambda: sde().solve(quadratic(2), paths=0), ValueError,
                 "paths must be a positive integer", marks=needs(TORCHSDE, "needs torchsde")),
    pytest.param("torchsde: checkpoints", lambda: sde().solve(quadratic(2), steps=4, checkpoints=[2, 9]), ValueError,
                 "checkpoints must lie in", marks=needs(TORCHSDE, "needs torchsde")),
]


def sde():
    from sdesim.torch import sde

    return sde


def run_with_lrs(*rates):
    """A TrainResult whose log holds one measurement per learning rate, at steps 0, 10, 20, ..."""
    from sdesim.torch.training import TrainResult

    log = [dict(row, lr=lr) for row, lr in zip(measurements(*[(10 * i, 1.0, 5.0) for i in range(len(rates))]), rates)]
    return TrainResult(log=log, steps=10 * len(rates), config={"batch_size": 8, "n_train": 1000})


def _row(row):
    return row.values if hasattr(row, "values") else row


@pytest.mark.parametrize("what,call,raised,message", BAD, ids=[_row(row)[0] for row in BAD])
def test_bad_input_is_refused_before_any_step(what, call, raised, message, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    def no_step(self):
        raise AssertionError(f"{what}: a training step ran before the input was refused")

    monkeypatch.setattr(Trainer, "_take_small_step", no_step)
    if issubclass(raised, Warning):
        with pytest.warns(raised, match=message):
            call()
    else:
        with pytest.raises(raised, match=message):
            call()


# --- evaluation is isolated from the training run's random stream ------------------------------------

def test_evaluation_draws_nothing_from_the_training_stream():
    """A data set that augments from torch's global generator: evaluating every 5 steps or every 20 gives the
    same trajectory and the same metrics at step 20, and `evaluate` leaves torch's random state as it was."""
    runs = []
    for log_every in (5, 20):
        model = tiny_model()
        result = train(model, Augmented(40), test_data=Augmented(10), batch_size=5, lr=0.2, steps=20,
                       logging=LogSettings(log_every=log_every), seed=4)
        runs.append((torch.cat([p.reshape(-1) for p in model.parameters()]), result.log[-1]))
    (every_5, last_5), (every_20, last_20) = runs
    assert torch.equal(every_5, every_20)
    assert {k: v for k, v in last_5.items() if k != "step_loss"} == {k: v for k, v in last_20.items()
                                                                        if k != "step_loss"}
    state = torch.get_rng_state()
    trainer().evaluate(Augmented())
    assert torch.equal(torch.get_rng_state(), state)


def test_evaluate_takes_what_the_trainer_takes():
    run, data = trainer(), tiny_data(6, seed=3)
    expected = run.evaluate(data)
    assert run.evaluate((data.inputs, data.targets)) == expected
    assert run.evaluate(torch.utils.data.TensorDataset(data.inputs, data.targets)) == expected


# --- one cadence knob -------------------------------------------------------------------------------

def test_an_nsr_monitor_sets_the_cadence():
    data = tiny_data(40)
    watch = lambda: nsr.NSRMonitor(data, 5, m=3, every=20, seed=1)  # noqa: E731
    result = train(tiny_model(), data, batch_size=5, steps=40, logging=LogSettings(log_every=10, monitor=watch()),
                   seed=2)
    assert [entry["step"] for entry in result.log if nsr.SIGNAL in entry] == [0, 20, 40]
    assert result.config["monitor_every"] == 20
    same = train(tiny_model(), data, batch_size=5, steps=40,
                 logging=LogSettings(log_every=10, monitor=watch(), monitor_every=20), seed=2)
    assert same.log == result.log


def test_resuming_a_monitored_run_with_its_monitor_is_silent_and_identical(tmp_path, recwarn):
    data = tiny_data(40)
    watch = lambda: nsr.NSRMonitor(data, 5, m=3, every=4, seed=1)  # noqa: E731
    whole = trainer(train_data=data, batch_size=5, logging=LogSettings(log_every=2, monitor=watch()))
    whole.run(8)
    first = trainer(train_data=data, batch_size=5, logging=LogSettings(log_every=2, monitor=watch()))
    first.run(4)
    first.save(tmp_path / "run.pt")
    resumed = Trainer.load(tmp_path / "run.pt", tiny_model(seed=7), data, monitor=watch())
    assert resumed.run(4).log == whole.result().log
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


# --- the monitor takes the trainer's losses ---------------------------------------------------------

def test_the_monitor_takes_the_trainers_loss_names():
    data, model = regression(40), torch.nn.Linear(4, 1).double()
    by_name = nsr.NSRMonitor(data, 5, m=4, every=5, loss_fn="mse", seed=3)
    assert by_name(model, 5) == nsr.NSRMonitor(data, 5, m=4, every=5, loss_fn=squared_error, seed=3)(model, 5)
    result = train(model, data, loss="mse", lr=0.01, batch_size=5, steps=10,
                   logging=LogSettings(log_every=5, monitor=by_name))
    assert all(math.isfinite(entry["nsr"]) for entry in result.log) and len(result.log) == 3


def test_a_zero_signal_gives_an_infinite_ratio_not_an_exception():
    estimate = nsr.NSREstimate(signal=0.0, noise=2.0, signal_se=0.1, noise_se=0.1, covariance=0.0, norm2=1.0,
                               batches=3)
    assert estimate.ratio == math.inf
    assert math.isnan(nsr.NSREstimate(0.0, 0.0, 0.1, 0.1, 0.0, 1.0, 3).ratio)


# --- what the prediction and a diverged run tell -----------------------------------------------------

def test_predict_scaling_prints_a_summary_and_reads_a_run():
    from sdesim.torch.training import TrainResult

    run = TrainResult(log=measurements((0, 1.0, 5.0), (10, 1.2, 5.5), (20, 0.8, 4.5), lr=0.4), steps=20,
                      config={"batch_size": 8, "n_train": 1000})
    prediction = predict_scaling(run)
    assert prediction == predict_scaling(run.log, 8, 0.4, n_train=1000)
    text = str(prediction)
    assert text.startswith("Theorem 5.6 from a baseline at B = 8, η = 0.4 (3 measurements, N = 1000):")
    assert f"B* = {prediction.critical_batch_size:.4g}" in text and "warning" not in text
    with pytest.warns(UserWarning, match="exceeds the training set's 50 examples"):
        beyond = predict_scaling(run, n_train=50)
    assert beyond.notes and f"warning: {beyond.notes[0]}" in str(beyond)


def test_a_diverged_runs_table_says_so():
    blown = train(torch.nn.Linear(8, 1), synthetic_regression(40), loss="mse", lr=1e6, batch_size=5, steps=100,
                  logging=LogSettings(log_every=5))
    assert blown.diverged
    table = blown.table()
    assert table.splitlines()[-1].startswith("**Diverged**") and blown.stopped["reason"] in table
    calm = train(torch.nn.Linear(8, 1), synthetic_regression(40), loss="mse", lr=0.01, batch_size=5, steps=5,
                 logging=LogSettings(log_every=5))
    assert "Diverged" not in calm.table()


# ---------------------------------------------------------------------------------------------------
# the drop-in optimizers refuse misuse at the first wrong call (issue 21, point 5)

def _linear():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2).double()


def test_svag_step_after_a_plain_backward_is_refused_and_mark_combined_allows_it():
    from sdesim.torch import SVAG

    model = _linear()
    opt = SVAG(model.parameters(), lr=0.1, l=2)
    model(torch.ones(4, 3, dtype=torch.float64)).sum().backward()
    with pytest.raises(RuntimeError, match=r"SVAG\(l=2\)\.step\(\) with a gradient that did not come from the two "
                                           r"batches.*SGD step of η/l.*opt\.mark_combined\(\)"):
        opt.step()
    assert opt.small_steps_taken == 0
    opt.mark_combined()
    opt.step()
    assert opt.small_steps_taken == 1
    model(torch.ones(4, 3, dtype=torch.float64)).sum().backward()
    with pytest.raises(RuntimeError, match=r"did not come from the two batches"):   # the mark lasts one small step
        opt.step()


@pytest.mark.parametrize("name", ["AdamSVAG", "RMSpropSVAG", "AdamWSVAG", "PaperRMSpropSVAG"])
def test_sparse_gradients_are_refused_by_the_adaptive_methods_by_name(name):
    import sdesim.torch as st

    embedding = torch.nn.Embedding(10, 3, sparse=True)
    opt = getattr(st, name)(embedding.parameters(), lr=0.1)
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match=rf"{name} does not support sparse gradients \(param_groups\[0\]"
                                           rf"\['params'\]\[0\] \(shape \(10, 3\)\)\): make the embedding dense"):
        opt.step()


def test_svag_takes_sparse_gradients_as_torchs_sgd_bit_for_bit():
    from sdesim.torch import SVAG

    mine, theirs = (torch.nn.Embedding(10, 3, sparse=True) for _ in range(2))
    theirs.load_state_dict(mine.state_dict())
    opts = SVAG(mine.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    for model, opt in zip((mine, theirs), opts):
        for rows in ([1, 2], [2, 5]):
            opt.zero_grad()
            (model(torch.tensor(rows)) ** 2).sum().backward()
            opt.step()
    assert torch.equal(mine.weight, theirs.weight)


def test_a_noisy_gd_chunk_used_twice_or_from_an_earlier_step_is_refused():
    from sdesim.torch import NoisyGD

    model = _linear()
    opt = NoisyGD(model.parameters(), lr=0.1, n=4, batch_size=2)
    inputs = torch.ones(4, 3, dtype=torch.float64)
    first, second = opt.draw(chunk_size=2)
    first.loss(model(inputs[first.indices]).sum(1)).backward()
    with pytest.raises(RuntimeError, match=r"this chunk's loss was already taken in this step \(examples 0\.\.1\)"):
        first.loss(model(inputs[first.indices]).sum(1))
    second.loss(model(inputs[second.indices]).sum(1)).backward()
    opt.step()
    opt.draw(chunk_size=2)
    with pytest.raises(RuntimeError, match=r"this chunk is from an earlier step's draw"):
        first.loss(model(inputs[first.indices]).sum(1))


@pytest.mark.parametrize("make,message", [
    (lambda p: __import__("sdesim.torch", fromlist=["NoisyGD"]).NoisyGD(p, 0.1, n=1, batch_size=1),
     r"n=1: noisy GD needs at least 2 training examples"),
    (lambda p: __import__("sdesim.torch", fromlist=["x"]).two_independent_batches(10, 2, draws=2.5),
     r"draws must be an integer >= 0 \(the number of draws, small steps\), got 2\.5"),
    (lambda p: __import__("sdesim.torch", fromlist=["x"]).epoch_reshuffling(10, 2, seed=-1),
     r"seed must be an integer >= 0 \(the sampler's seed\), got -1"),
], ids=["ngd n=1", "draws=2.5", "seed=-1"])
def test_degenerate_counts_are_refused_with_what_they_mean(make, message):
    with pytest.raises(ValueError, match=message):
        make(_linear().parameters())
