"""Turning what users pass (numpy arrays, torch tensors, lists of either) into what the
extension reads in place, and results back into the caller's kind (torch in -> torch out).

torch is never imported here: a tensor is recognised by its module, so `import murmur` stays
cheap for numpy users.
"""
from __future__ import annotations

import sys
from typing import Any, Mapping

import numpy as np


def is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def tensor_view(t: Any, what: str) -> np.ndarray:
    """A numpy view of a float32 CPU tensor's memory (no copy); a CUDA tensor is copied to the
    host first (the kernels read host rows). Non-contiguous tensors come back as strided views,
    which the extension refuses with a ValueError naming the fix."""
    torch = sys.modules["torch"]
    if t.dtype != torch.float32:
        raise TypeError(
            f"{what} must be float32, got {t.dtype}: convert it first (t.float()); rows are "
            "read in place, never converted silently")
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    return t.numpy()


class Rows:
    """What murmur.aggregate passes to the extension, and how to give the result back."""

    def __init__(self, rows: Any):
        self.torch_device = None  # set when the rows were tensors: the result goes back there
        if is_tensor(rows):
            self.torch_device = rows.device
            self.value: Any = tensor_view(rows, "rows")
        elif isinstance(rows, (list, tuple)):
            items = list(rows)
            if items and is_tensor(items[0]):
                self.torch_device = items[0].device
            self.value = [tensor_view(r, f"row {i}") if is_tensor(r) else r
                          for i, r in enumerate(items)]
        elif isinstance(rows, np.ndarray):
            self.value = rows
        else:
            raise TypeError(
                "rows must be a 2-D numpy.ndarray or torch.Tensor of float32, or a list of 1-D "
                f"ones, got {type(rows).__name__}")

    def result(self, aggregate: np.ndarray) -> Any:
        if self.torch_device is None:
            return aggregate
        torch = sys.modules["torch"]
        out = torch.from_numpy(aggregate)
        return out if self.torch_device.type == "cpu" else out.to(self.torch_device)


def weights_array(weights: Any) -> Any:
    if weights is None or not is_tensor(weights):
        return weights
    return weights.detach().cpu().double().numpy()


def flat_update(update: Any) -> np.ndarray:
    """A flat float32 vector from a numpy array, a tensor, or a state_dict (its floating
    tensors in order, each flattened row-major: the task's parameter layout, libtorch's
    named_parameters() order of the task's Sequential). Tensors are viewed, not copied, when
    they already are one contiguous float32 vector on the CPU."""
    if isinstance(update, Mapping):
        return flatten_state_dict(update)
    if is_tensor(update):
        update = tensor_view(update, "the update")
    if not isinstance(update, np.ndarray):
        raise TypeError("an update must be a flat numpy array or torch.Tensor of float32, or a "
                        f"state_dict, got {type(update).__name__}")
    if update.ndim != 1:
        raise ValueError(f"an update must be flat (1-D), got shape {update.shape}: flatten it, "
                         "or pass the model's state_dict")
    return update


def flatten_state_dict(state: Mapping[str, Any]) -> np.ndarray:
    """The state_dict's floating-point tensors (or arrays), in order, concatenated into one
    float32 vector: the flat parameter layout of model/include/murmur/model/mlp_spec.hpp for a
    Sequential of Linear layers ("0.weight", "0.bias", "2.weight", ...)."""
    parts = []
    for name, v in state.items():
        if is_tensor(v):
            if not v.is_floating_point():
                continue  # e.g. BatchNorm's num_batches_tracked
            parts.append(v.detach().cpu().reshape(-1).float().numpy())
        else:
            a = np.asarray(v)
            if a.dtype.kind != "f":
                continue
            parts.append(a.reshape(-1).astype(np.float32, copy=False))
    if not parts:
        raise ValueError("the state_dict holds no floating-point tensors")
    return np.concatenate(parts)


def load_flat(module_or_state: Any, flat: Any) -> None:
    """Copies a flat vector (numpy or tensor) into a torch module's parameters, or into a
    state_dict's floating tensors, in the layout of flatten_state_dict."""
    torch = sys.modules.get("torch")
    if torch is None:
        raise RuntimeError("load_flat needs torch")
    flat_t = torch.as_tensor(np.asarray(flat) if not is_tensor(flat) else flat)
    if hasattr(module_or_state, "state_dict"):
        targets = [v for v in module_or_state.state_dict().values() if v.is_floating_point()]
    else:
        targets = [v for v in module_or_state.values() if v.is_floating_point()]
    total = sum(t.numel() for t in targets)
    if flat_t.numel() != total:
        raise ValueError(f"the flat vector has {flat_t.numel()} values, the model {total}")
    offset = 0
    with torch.no_grad():
        for t in targets:
            n = t.numel()
            t.copy_(flat_t[offset:offset + n].reshape(t.shape))
            offset += n
