"""The peer's side of bench/peers.py: a minimal MLServer custom runtime for one int8 `.tflite`.

Runs inside the MLServer virtual environment bench/peers.py makes (never the hub's). One LiteRT
interpreter per model with one thread, as MLServer's documentation builds a custom runtime: the
request's tensor decoded with MLServer's own NumpyCodec, set_tensor / invoke / get_tensor, the
answer encoded with NumpyCodec. With parallel_workers=0, predict runs on MLServer's event loop.
"""
from __future__ import annotations

from ai_edge_litert.interpreter import Interpreter
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri


class LiteRTModel(MLModel):
    async def load(self) -> bool:
        path = await get_model_uri(self._settings)
        self._interpreter = Interpreter(model_path=path, num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        self._interpreter.set_tensor(self._input["index"], x.astype(self._input["dtype"], copy=False))
        self._interpreter.invoke()
        y = self._interpreter.get_tensor(self._output["index"])
        return InferenceResponse(model_name=self.name, id=payload.id,
                                 outputs=[NumpyCodec.encode_output(self._output["name"], y)])
