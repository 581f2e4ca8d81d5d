"""stackyard's reference application: a FastAPI API, a Celery worker and a
PostgreSQL LISTEN/NOTIFY cache invalidator, sharing one image."""
