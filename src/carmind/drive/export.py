"""The trained network to ONNX, checked against PyTorch before it is kept.

The graph takes the raw readings (inputs named as `carmind.drive.policy.KEYS`, batch axis
dynamic) and returns `acceleration` [N] and `lane_logits` [N, 3]. Metadata properties carry
what the runtime needs beyond the graph: `carmind.max_lateral_accel` (the expert's lane-change
limit the plan must respect), `carmind.rig` and `carmind.version`.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from carmind import __version__
from carmind.drive.policy import KEYS, OUTPUTS, DrivePolicy
from carmind.errors import CarmindError

log = logging.getLogger(__name__)

OPSET = 17
PARITY_TOLERANCE = 1e-4
"""The largest absolute difference allowed between PyTorch and onnxruntime outputs."""
META_MAX_LATERAL_ACCEL = "carmind.max_lateral_accel"
META_RIG = "carmind.rig"
META_VERSION = "carmind.version"


class ExportError(CarmindError):
    """A model that cannot be exported, or whose ONNX graph disagrees with PyTorch."""


def _sample_inputs(model: DrivePolicy, batch: int, seed: int) -> dict[str, np.ndarray]:
    """Random but plausible readings (the parity check's default inputs)."""
    rng = np.random.default_rng(seed)
    s = model.shapes
    radar = np.zeros((batch, *s.radar), dtype=np.float32)
    radar[..., 0] = rng.uniform(2, 150, radar.shape[:2])
    radar[..., 1] = rng.uniform(-1, 1, radar.shape[:2])
    radar[..., 2] = rng.normal(0, 5, radar.shape[:2])
    radar[..., 3] = rng.random(radar.shape[:2]) < 0.4
    ego = rng.normal(0, 1, (batch, s.ego)).astype(np.float32)
    ego[:, 0] = rng.uniform(15, 30, batch)
    ego[:, 5] = 4.0
    return {
        "camera": rng.integers(0, 256, (batch, *s.camera), dtype=np.uint8),
        "ultrasonic": rng.uniform(0.5, 5, (batch, s.ultrasonic)).astype(np.float32),
        "radar": radar,
        "lidar": rng.uniform(2, 200, (batch, s.lidar)).astype(np.float32),
        "ego": ego,
    }


def check_parity(model: DrivePolicy, path: Path, inputs: Mapping[str, np.ndarray]) -> float:
    """The largest absolute difference between PyTorch and onnxruntime on `inputs` (batched)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {k: np.ascontiguousarray(inputs[k]) for k in KEYS}
    got = session.run(list(OUTPUTS), feeds)
    model.eval()
    with torch.no_grad():
        want = model(*(torch.from_numpy(feeds[k]) for k in KEYS))
    return max(
        float(np.max(np.abs(np.asarray(g) - w.numpy()))) for g, w in zip(got, want, strict=True)
    )


def export_onnx(
    model: DrivePolicy,
    path: Path,
    *,
    max_lateral_accel: float,
    rig: str = "default",
    sample: Mapping[str, np.ndarray] | None = None,
) -> float:
    """Write `model` to `path` as ONNX with carmind's metadata; check it against PyTorch on
    `sample` (batched readings; random plausible readings when None) and return the largest
    difference. The file is replaced atomically and only once the check passes."""
    import onnx

    if not max_lateral_accel > 0:
        raise ExportError(f"max_lateral_accel {max_lateral_accel}: expected a positive m/s²")
    model = copy.deepcopy(model).cpu().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
            torch.onnx.export(
                model,
                model.dummy_inputs(1),
                str(tmp),
                dynamo=False,
                opset_version=OPSET,
                input_names=list(KEYS),
                output_names=list(OUTPUTS),
                dynamic_axes={name: {0: "batch"} for name in (*KEYS, *OUTPUTS)},
            )
        proto = onnx.load(str(tmp))
        props = {
            META_MAX_LATERAL_ACCEL: repr(float(max_lateral_accel)),
            META_RIG: rig,
            META_VERSION: __version__,
        }
        del proto.metadata_props[:]
        for key, value in props.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "carmind"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        inputs = sample if sample is not None else _sample_inputs(model, 8, 0)
        diff = check_parity(model, tmp, inputs)
        if not diff < PARITY_TOLERANCE:
            raise ExportError(
                f"the ONNX graph differs from PyTorch by {diff:.2e}: expected < {PARITY_TOLERANCE}"
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("exported %s (parity %.1e)", path, diff)
    return diff
