"""Entry point for `flask --app app` and `gunicorn app:app`."""
import gc

from telephone import banners, create_app

app = create_app()
banners.prepare(app)

# Everything loaded so far lives as long as the process. Freezing it keeps the
# garbage collector from rescanning it again and again, which otherwise adds tens
# of milliseconds to every call banner sent to hundreds of open streams.
gc.collect()
gc.freeze()
