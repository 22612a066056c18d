"""RemoteMonitor: POSTs each epoch's logs to an HTTP server."""
from __future__ import annotations

import json
import warnings

import httpx
import numpy as np

from engine.callbacks.callback import Callback


class RemoteMonitor(Callback):
    """Sends ``{"epoch": epoch, **logs}`` to ``root + path`` at each epoch end.

    Args:
        root: the server's root URL.
        path: the path the events go to.
        field: the form field holding the JSON text (when not ``send_as_json``).
        headers: optional HTTP headers.
        send_as_json: send the dict as a JSON body rather than a form field.

    An unreachable server gives a warning, not an error, as in Keras.
    """

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
                 send_as_json=False):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        for k, v in (logs or {}).items():
            send[k] = v.item() if isinstance(v, (np.ndarray, np.generic)) else v
        try:
            if self.send_as_json:
                httpx.post(self.root + self.path, json=send, headers=self.headers)
            else:
                httpx.post(self.root + self.path, data={self.field: json.dumps(send)}, headers=self.headers)
        except httpx.HTTPError:
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
