"""What the trainer's ``precision``, ``compile`` and ``fused`` options change, and the checks that guard them.

==================  =================================================================================
``precision``       ``"float32"``: the model's own dtype throughout (the default, bit for bit as without
                    the option).  ``"bf16"``: the training forward passes run under
                    ``torch.autocast(device, torch.bfloat16)``; matrix products and convolutions
                    compute in bfloat16 (8 significant bits, relative rounding 2⁻⁹ ≈ 0.2%, so about
                    3 significant digits), their outputs are cast back to float32 before the loss,
                    and the backward pass follows the same dtypes.  Parameters, gradients in ``.grad``,
                    weight decay and the update stay float32.  Evaluation, the log and monitors run
                    in float32, so runs at both precisions are measured alike.
``compile``         ``True`` (torch's default backend, inductor) or a backend name: the training
                    forward passes go through ``torch.compile(model)``; the trainer keeps the module
                    itself for evaluation and checkpoints (the compiled wrapper's ``state_dict`` keys
                    differ).  Generated kernels may fuse and reorder float operations: the same
                    trajectory to rounding, not bit for bit.
``fused``           SVAG (l > 1, also for RMSprop/Adam): the two independent batches γ₁, γ₂ of B in one
                    forward and backward pass over the 2B examples, with per-example loss weights
                    c₁/B on γ₁ and c₂/B on γ₂:  ∇ Σᵢ wᵢℓᵢ = c₁∇L_γ₁ + c₂∇L_γ₂, eq. (5)'s gradient.
                    The same batches from the same draws; sums in another order (equal to rounding).
                    Valid only when no layer couples the examples of a batch (batch norm in training
                    mode is refused: it would normalize over 2B mixed examples).
==================  =================================================================================
"""

from __future__ import annotations

import contextlib

import torch

from sdesim.torch.ngd import describe_coupling

PRECISIONS = ("float32", "bf16")


def check_precision(precision, device: torch.device, model: torch.nn.Module):
    """The autocast dtype of ``precision`` (None for ``"float32"``); raise before work if this device or
    model cannot run it."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(map(repr, PRECISIONS))} "
                         f"(float16 is not offered: without loss scaling its gradients underflow, and bf16 has "
                         f"float32's exponent range)")
    if precision == "float32":
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision 'bf16' on {device}: this GPU does not support bfloat16 "
                         f"(torch.cuda.is_bf16_supported() is False; it needs compute capability 8.0 or "
                         f"newer); use precision='float32'")
    if not torch.amp.is_autocast_available(device.type):
        raise ValueError(f"precision 'bf16': torch has no autocast for device type {device.type!r}; "
                         f"use precision='float32'")
    dtypes = sorted({str(p.dtype) for p in model.parameters() if p.is_floating_point()})
    if dtypes != ["torch.float32"]:
        raise ValueError(f"precision 'bf16' autocasts float32 operations to bfloat16, but the model's parameters "
                         f"are {', '.join(dtypes) or 'not floating point'}; autocast leaves other dtypes alone. "
                         f"Use a float32 model (model.float()) or precision='float32'")
    return torch.bfloat16


def check_compile(compile, device: torch.device):
    """False, or the ``torch.compile`` backend name of ``compile`` (True is torch's default, inductor);
    raise before work for an unknown backend, or for inductor on a CPU without a C++ compiler."""
    if compile is False:
        return False
    if compile is True:
        compile = "inductor"
    if not isinstance(compile, str):
        raise ValueError(f"compile must be True, False or the name of a torch.compile backend (e.g. 'inductor', "
                         f"'aot_eager'), got {compile!r}")
    import torch._dynamo

    backends = torch._dynamo.list_backends(exclude_tags=())
    if compile not in backends:
        raise ValueError(f"compile={compile!r} is not a torch.compile backend here; allowed: "
                         f"{', '.join(map(repr, backends))}")
    if compile == "inductor" and device.type == "cpu":
        from torch._inductor.cpp_builder import get_cpp_compiler
        try:
            get_cpp_compiler()
        except Exception:  # noqa: BLE001 -- inductor raises its own InvalidCxxCompiler
            raise ValueError("compile=True uses torch.compile's inductor backend, which on CPU generates C++ and "
                             "needs a C++ compiler (g++, or the one named by $CXX): none was found. Install one, "
                             "or use compile='aot_eager' (graph capture without code generation) or "
                             "compile=False") from None
    return compile


def refuse_fused_coupling(model: torch.nn.Module) -> None:
    """Raise if a layer couples the examples of a batch, which a pass over both SVAG batches would mix."""
    coupled = describe_coupling(model)
    if coupled:
        raise ValueError(
            f"fused=True runs SVAG's two batches of B through one forward pass over 2B examples, which gives the "
            f"two separate passes' gradient only when no layer couples the examples of a batch; the model has "
            f"batch norm in training mode ({coupled}), which would normalize over both batches at once. Use "
            f"fused=False (each batch its own forward pass, as batch norm needs), or group norm, layer norm or "
            f"no normalization")


def training_forward(model: torch.nn.Module, device: torch.device, autocast_dtype, backend):
    """The forward pass of training: ``model`` itself when neither option is on, else a function that runs
    ``torch.compile(model)`` and/or autocast and returns floating outputs in the parameters' dtype."""
    if autocast_dtype is None and not backend:
        return model
    network = torch.compile(model, backend=backend) if backend else model
    dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())

    def forward(inputs):
        context = (torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None
                   else contextlib.nullcontext())
        with context:
            outputs = network(inputs)
        if isinstance(outputs, torch.Tensor) and outputs.is_floating_point() and outputs.dtype != dtype:
            outputs = outputs.to(dtype)
        return outputs

    return forward


def fused_svag_gradient(forward, loss_fn, first, second, c1: float, c2: float):
    """Add c₁∇L_γ₁ + c₂∇L_γ₂ to ``.grad`` by one pass over γ₁ ∪ γ₂ with weights c₁/B, c₂/B (module
    docstring), ``first`` and ``second`` the batches (inputs, targets) of γ₁ and γ₂; return (L_γ₁ + L_γ₂)/2, detached."""
    inputs, targets = torch.cat([first[0], second[0]]), torch.cat([first[1], second[1]])
    b1, b2 = len(first[0]), len(second[0])
    losses = loss_fn(forward(inputs), targets)
    weights = torch.cat([torch.full((b1,), c1 / b1, dtype=losses.dtype, device=losses.device),
                         torch.full((b2,), c2 / b2, dtype=losses.dtype, device=losses.device)])
    (losses * weights).sum().backward()
    return losses.detach().mean()
