"""Per-group hyperparameters: honoured as torch honours them (l = 1 bit for bit, each group rescaled for l),
refused with the reason where the method has no such hyperparameter, OneCycleLR's momentum cycling where the
method has the momentum it cycles, foreach with the same bits, and a resume that builds its scheduler after
load_state_dict in the middle of an effective step."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from sdesim.torch.optim import SVAG, AdamSVAG, PaperRMSpropSVAG, RMSpropSVAG  # noqa: E402
from tiny_torch import tiny_data, tiny_model  # noqa: E402

torch.set_num_threads(1)
LR, BATCH = 0.05, 5


def groups(model, **second):
    """The first layer's parameters with the optimizer's defaults, the rest with ``second``."""
    params = list(model.parameters())
    return [{"params": params[:2]}, {"params": params[2:], **second}]


def run(model, opt, steps, *, scheduler=None, every_small_step=False, l=1):
    data = tiny_data(40)
    for j in range(steps):
        opt.zero_grad()
        losses = [F.cross_entropy(model(data.inputs[i:i + BATCH]), data.targets[i:i + BATCH])
                  for i in ((2 * j * BATCH) % 30, ((2 * j + 1) * BATCH) % 30)[:1 if l == 1 else 2]]
        (losses[0] if l == 1 else opt.combine(*losses)).backward()
        opt.step()
        if scheduler is not None and (every_small_step or getattr(opt, "ends_effective_step", True)):
            scheduler.step()
    return model


def same(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


GROUPED = [   # (sdesim's optimizer, torch's, the control: sdesim's with the second group's own values left out)
    (lambda m: AdamSVAG(groups(m, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1), lr=LR, betas=(0.8, 0.99)),
     lambda m: torch.optim.Adam(groups(m, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1), lr=LR, betas=(0.8, 0.99)),
     lambda m: AdamSVAG(groups(m, weight_decay=0.1), lr=LR, betas=(0.8, 0.99))),
    (lambda m: RMSpropSVAG(groups(m, alpha=0.5, eps=1e-3, lr=0.1), lr=LR),
     lambda m: torch.optim.RMSprop(groups(m, alpha=0.5, eps=1e-3, lr=0.1), lr=LR),
     lambda m: RMSpropSVAG(groups(m, lr=0.1), lr=LR)),
    (lambda m: SVAG(groups(m, momentum=0.5, weight_decay=0.1), lr=LR, unvalidated_momentum=0.9),
     lambda m: torch.optim.SGD(groups(m, momentum=0.5, weight_decay=0.1), lr=LR, momentum=0.9),
     lambda m: SVAG(groups(m, weight_decay=0.1), lr=LR, unvalidated_momentum=0.9)),
    (lambda m: SVAG(groups(m, foreach=True), lr=LR, weight_decay=0.1),
     lambda m: torch.optim.SGD(groups(m, foreach=True), lr=LR, weight_decay=0.1),
     lambda m: SVAG(groups(m), lr=LR)),
]


@pytest.mark.parametrize("mine,theirs,control", GROUPED, ids=["adam", "rmsprop", "momentum", "foreach"])
def test_per_group_hyperparameters_are_torchs_at_l_1_bit_for_bit(mine, theirs, control):
    a, b, c = tiny_model(), tiny_model(), tiny_model()
    run(a, mine(a), 6)
    run(b, theirs(b), 6)
    run(c, control(c), 6)
    assert same(a, b)
    assert not same(a, c)       # the group's own values made a difference


@pytest.mark.parametrize("l", [2, 3])
def test_each_group_is_rescaled_for_l_with_its_own_values(l):
    """Two groups with their own betas and eps step as two optimizers, one per group, on the same gradients."""
    data = tiny_data(40)
    model, split = tiny_model(), tiny_model()
    together = AdamSVAG(groups(model, betas=(0.5, 0.9), eps=1e-3), lr=LR, l=l, betas=(0.8, 0.99))
    params = list(split.parameters())
    apart = [AdamSVAG(params[:2], lr=LR, l=l, betas=(0.8, 0.99)), AdamSVAG(params[2:], lr=LR, l=l, betas=(0.5, 0.9),
                                                                        eps=1e-3)]
    for j in range(2 * l * l):
        for net, opts in ((model, [together]), (split, apart)):
            for opt in opts:
                opt.zero_grad()
            x, y = data.inputs[(j * 5) % 30:(j * 5) % 30 + 10], data.targets[(j * 5) % 30:(j * 5) % 30 + 10]
            opts[0].combine(F.cross_entropy(net(x[:5]), y[:5]), F.cross_entropy(net(x[5:]), y[5:])).backward()
            for opt in opts[1:]:
                opt.mark_combined()          # the combination came through the first optimizer's combine
            for opt in opts:
                opt.step()
    assert same(model, split)


REFUSED = [
    (lambda m: SVAG(groups(m, nesterov=True, momentum=0.9), lr=LR, unvalidated_momentum=0.9),
     r"param_groups\[1\] sets nesterov=True, which SVAG does not have: no SVAG rule is known for Nesterov"),
    (lambda m: SVAG(groups(m, momentum=0.9), lr=LR), r"sets momentum=0\.9.*unvalidated_momentum=β"),
    (lambda m: SVAG(groups(m, maximize=True), lr=LR), r"sets maximize=True.*negate the loss"),
    (lambda m: SVAG(groups(m, eps=1e-3), lr=LR), r"sets eps=0\.001, which SVAG does not have"),
    (lambda m: AdamSVAG(groups(m, amsgrad=True), lr=LR), r"sets amsgrad=True.*AMSGrad has no SDE"),
    (lambda m: AdamSVAG(groups(m, decoupled_weight_decay=True), lr=LR), r"decoupled weight decay is another method"),
    (lambda m: RMSpropSVAG(groups(m, centered=True), lr=LR), r"sets centered=True.*centred RMSprop has no SDE"),
    (lambda m: RMSpropSVAG(groups(m, momentum=0.9), lr=LR), r"RMSpropSVAG does not have"),
    (lambda m: RMSpropSVAG(groups(m, betas=(0.9, 0.99)), lr=LR), r"sets betas=\(0\.9, 0\.99\).*'alpha'"),
    (lambda m: AdamSVAG(groups(m, betas=(0.9, 1.5)), lr=LR), r"param_groups\[1\]: betas\[1\] must be"),
    (lambda m: PaperRMSpropSVAG(groups(m, eps=-1.0), lr=LR), r"param_groups\[1\]: eps must be a finite number > 0"),
    (lambda m: SVAG(groups(m, momentum=1.0), lr=LR, unvalidated_momentum=0.9),
     r"param_groups\[1\]\['momentum'\] must be a number in \[0, 1\)"),
]


@pytest.mark.parametrize("make,message", REFUSED, ids=[m[:28] for _, m in REFUSED])
def test_hyperparameters_the_method_does_not_have_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make(tiny_model())


def test_a_refused_value_set_after_construction_is_refused_at_the_step():
    model = tiny_model()
    opt = AdamSVAG(model.parameters(), lr=LR)
    opt.param_groups[0]["amsgrad"] = True
    with pytest.raises(ValueError, match=r"sets amsgrad=True"):
        run(model, opt, 1)
    assert opt.small_steps_taken == 0


ONE_CYCLE = dict(max_lr=0.1, total_steps=8, cycle_momentum=True)


@pytest.mark.parametrize("mine,theirs", [
    (lambda m: AdamSVAG(m.parameters(), lr=LR), lambda m: torch.optim.Adam(m.parameters(), lr=LR)),
    (lambda m: SVAG(m.parameters(), lr=LR, unvalidated_momentum=0.9),
     lambda m: torch.optim.SGD(m.parameters(), lr=LR, momentum=0.9)),
], ids=["adam", "momentum"])
def test_one_cycle_lr_cycles_the_momentum_as_on_torchs_optimizer(mine, theirs):
    a, b = tiny_model(), tiny_model()
    opt_a, opt_b = mine(a), theirs(b)
    run(a, opt_a, 8, scheduler=torch.optim.lr_scheduler.OneCycleLR(opt_a, **ONE_CYCLE))
    run(b, opt_b, 8, scheduler=torch.optim.lr_scheduler.OneCycleLR(opt_b, **ONE_CYCLE))
    assert same(a, b)
    key = "betas" if "betas" in opt_a.defaults else "momentum"
    assert opt_a.param_groups[0][key] == opt_b.param_groups[0][key] != opt_a.defaults[key]   # it did cycle


def test_one_cycle_lr_momentum_mid_effective_step_is_refused_and_without_momentum_refused_by_torch():
    model = tiny_model()
    opt = AdamSVAG(model.parameters(), lr=LR, l=2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=8, cycle_momentum=True)
    run(model, opt, 4, scheduler=scheduler, l=2)                         # once per effective step: fine
    assert opt.small_steps_taken == 4
    with pytest.raises(RuntimeError, match=r"was set during effective step 1, after 1 of its 4 small steps"):
        run(model, opt, 4, scheduler=scheduler, every_small_step=True, l=2)
    for make in (lambda p: RMSpropSVAG(p, lr=LR), lambda p: SVAG(p, lr=LR), lambda p: PaperRMSpropSVAG(p, lr=LR)):
        with pytest.raises(ValueError, match=r"must support momentum or beta1"):
            torch.optim.lr_scheduler.OneCycleLR(make(tiny_model().parameters()), **ONE_CYCLE)


def test_the_guides_resume_recipe_mid_effective_step_is_bit_for_bit():
    """Save 6 small steps into a run at l = 4 (inside effective step 1), then as docs/guide/own-loop.md says:
    new optimizer, load_state_dict, a new scheduler built on it, the scheduler's state; continue."""
    l, total, stop = 4, 16, 6

    def make(model):
        opt = SVAG(model.parameters(), lr=LR, l=l, weight_decay=1e-4)
        return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2], gamma=0.1)

    def steps(model, opt, scheduler, start, stop):
        data = tiny_data(40)
        for j in range(start, stop):
            opt.zero_grad()
            x, y = data.inputs[(j * 5) % 30:(j * 5) % 30 + 10], data.targets[(j * 5) % 30:(j * 5) % 30 + 10]
            opt.combine(F.cross_entropy(model(x[:5]), y[:5]), F.cross_entropy(model(x[5:]), y[5:])).backward()
            opt.step()
            if opt.ends_effective_step:
                scheduler.step()

    straight = tiny_model()
    steps(straight, *make(straight), 0, total)
    first = tiny_model()
    opt, scheduler = make(first)
    steps(first, opt, scheduler, 0, stop)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = tiny_model(seed=5)
    resumed.load_state_dict(saved["model"])
    opt = SVAG(resumed.parameters(), lr=LR, l=l, weight_decay=1e-4)
    opt.load_state_dict(saved["opt"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2], gamma=0.1)
    scheduler.load_state_dict(saved["scheduler"])
    steps(resumed, opt, scheduler, opt.small_steps_taken, total)
    assert same(straight, resumed)
    assert opt.param_groups[0]["lr"] == pytest.approx(LR * 0.1)         # the milestone passed after resuming


def test_a_resumed_run_whose_lr_differs_mid_effective_step_is_refused():
    model = tiny_model()
    opt = SVAG(model.parameters(), lr=LR, l=2)
    run(model, opt, 1, l=2)
    state = opt.state_dict()
    again = SVAG(model.parameters(), lr=LR, l=2)
    again.load_state_dict(state)
    again.param_groups[0]["lr"] = 2 * LR
    with pytest.raises(RuntimeError, match=r"learning rate was set during effective step 0, after 1 of its 2"):
        run(model, again, 1, l=2)


def test_a_warm_up_from_lr_0_is_torchs_and_a_negative_group_lr_is_refused():
    """A schedule may set a group's lr to 0 (Hugging Face's warm-up starts there): a step that does not move x."""
    warm_up = lambda k: min(1.0, k / 3)       # noqa: E731  0, 1/3, 2/3, 1, ...
    a, b = tiny_model(), tiny_model()
    opt_a, opt_b = AdamSVAG(a.parameters(), lr=LR), torch.optim.Adam(b.parameters(), lr=LR)
    run(a, opt_a, 6, scheduler=torch.optim.lr_scheduler.LambdaLR(opt_a, warm_up))
    run(b, opt_b, 6, scheduler=torch.optim.lr_scheduler.LambdaLR(opt_b, warm_up))
    assert same(a, b) and not same(a, tiny_model())
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['lr'\] .* must be a finite number >= 0, got -0\.1"):
        SVAG(groups(tiny_model(), lr=-0.1), lr=LR)
