"""fitq's worker side: the job spec, the store, Redis job records, the queues and the RQ jobs that train.

Nothing here imports FastAPI; the service imports these modules, never the other way round.
"""
