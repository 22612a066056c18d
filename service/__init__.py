"""fitq's HTTP service: the FastAPI app, its routes, the ``fitq`` command line and a Python client."""
