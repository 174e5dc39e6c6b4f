"""gunicorn settings read from the working directory (gunicorn loads ./gunicorn.conf.py by default).

The command line (README.md) sets workers and connections; this file only tells
the app how many connection slots a worker has, so that event streams never take
them all (telephone.events.Hub.stream_limit).
"""


def connection_slots(cfg) -> int:
    """How many requests one worker serves at once: threads for gthread, worker_connections for
    gevent/eventlet, one for the sync worker."""
    worker_class = str(cfg.worker_class_str).lower()
    if "gthread" in worker_class:
        return cfg.threads
    if "gevent" in worker_class or "eventlet" in worker_class:
        return cfg.worker_connections
    return 1


def post_worker_init(worker):
    config = getattr(worker.wsgi, "config", None)
    if config is not None:
        config.setdefault("SERVER_CONNECTION_SLOTS", connection_slots(worker.cfg))
