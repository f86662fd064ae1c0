"""The learned driver's network at run time: onnxruntime on one CPU thread.

`OnnxPolicy(path).predict(observation)` turns one observation (the rig's dict of arrays, no
batch axis) into (acceleration m/s², lane in {-1, 0, 1}). The model's metadata (written by
`carmind.drive.export`) gives `max_lateral_accel` and the `rig` it was trained for.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from carmind.drive.export import META_MAX_LATERAL_ACCEL, META_RIG, META_VERSION
from carmind.drive.policy import OUTPUTS
from carmind.errors import CarmindError

_DTYPES: dict[str, type[np.generic]] = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32}


class ModelError(CarmindError):
    """A model file that is missing, not ONNX, lacks carmind's metadata, or an observation
    that does not fit it."""


class OnnxPolicy:
    """One ONNX driving model, ready to predict one step at a time."""

    def __init__(self, path: Path | str) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"no model at {self.path}: expected an ONNX file from training")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped exceptions
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path} is not a loadable ONNX model: {first}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.max_lateral_accel = float(meta[META_MAX_LATERAL_ACCEL])
        except (KeyError, ValueError):
            raise ModelError(
                f"{self.path} lacks a valid {META_MAX_LATERAL_ACCEL!r} metadata entry: "
                "expected a model exported by carmind"
            ) from None
        if not self.max_lateral_accel > 0:
            raise ModelError(
                f"{self.path}: {META_MAX_LATERAL_ACCEL} = {self.max_lateral_accel}, "
                "expected a positive m/s²"
            )
        self.rig: str = meta.get(META_RIG, "default")
        self.version: str = meta.get(META_VERSION, "")
        outputs = [o.name for o in self.session.get_outputs()]
        if outputs[: len(OUTPUTS)] != list(OUTPUTS):
            raise ModelError(f"{self.path} has outputs {outputs}: expected {list(OUTPUTS)}")
        self._inputs: list[tuple[str, tuple[int, ...], type[np.generic]]] = []
        for node in self.session.get_inputs():
            dtype = _DTYPES.get(node.type)
            if dtype is None:
                raise ModelError(f"{self.path} input {node.name!r} has type {node.type}")
            shape = tuple(int(d) if isinstance(d, int) else -1 for d in node.shape[1:])
            self._inputs.append((node.name, shape, dtype))

    @property
    def input_names(self) -> list[str]:
        return [name for name, _, _ in self._inputs]

    def predict(self, observation: Mapping[str, np.ndarray]) -> tuple[float, int]:
        """(acceleration m/s², lane: +1 one lane left, -1 one lane right, 0 keep)."""
        feeds: dict[str, np.ndarray] = {}
        for name, shape, dtype in self._inputs:
            try:
                value = observation[name]
            except KeyError:
                raise ModelError(
                    f"the observation lacks {name!r}: the model {self.path.name} reads "
                    f"{self.input_names}"
                ) from None
            array = np.asarray(value, dtype=dtype)
            if array.shape != shape:
                raise ModelError(
                    f"observation {name!r} has shape {list(array.shape)}: the model expects "
                    f"{list(shape)} (rig {self.rig!r})"
                )
            feeds[name] = array[None]
        accel, logits = self.session.run(list(OUTPUTS), feeds)
        return float(accel[0]), int(np.argmax(logits[0])) - 1
