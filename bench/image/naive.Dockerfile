# The single-stage images bench/image.py compares the reference app's against:
# one stage, the same requirements (every one has a wheel: no build tools),
# pip and the whole of every package left in, as many start. PIP_FLAGS: ""
# for the naive one (pip's cache stays in the image, as a plain `pip install`
# leaves it), "--no-cache-dir" for a careful one.
ARG PYTHON_IMAGE=python:3.13-slim
FROM ${PYTHON_IMAGE}
ARG PIP_FLAGS=""
WORKDIR /app
COPY app/ /app/
# --ignore-installed: a base with distribution-installed packages (a Debian
# python) would otherwise fail to replace them; a no-op on the official image.
# hadolint ignore=DL3042
RUN pip install --disable-pip-version-check --ignore-installed ${PIP_FLAGS} \
      -r requirements.txt -r requirements-flower.txt
CMD ["uvicorn", "refapp.api:app", "--host", "0.0.0.0", "--port", "8000"]
