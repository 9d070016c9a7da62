# The one image of the docker-compose stack: Airflow 3.3 with the project installed from its own pins
# (constraints.txt), used by the Airflow services, the Celery workers, the emulator and the seeding job.
# The package is installed in editable mode at /opt/sf1630, so the compose file can mount dags/, plugins/
# and include/ over the copies baked in here and a change on the host is live without a rebuild.
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow

RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 openssh-client tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 50000 --gid 0 airflow \
 && mkdir -p /opt/airflow /demo \
 && chown airflow:0 /opt/airflow /demo

WORKDIR /opt/sf1630
COPY pyproject.toml constraints.txt README.md ./
COPY include ./include
# PYTHONDONTWRITEBYTECODE keeps pip from writing .pyc files too: compile once here, or every process (each
# component, each Celery task) compiles what it imports, every time (docs/deploy.md, "Install with bytecode").
RUN pip install -c constraints.txt -e . \
 && python -m compileall -q -j 0 "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" include
COPY dags ./dags
COPY plugins ./plugins

USER airflow
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["airflow", "version"]
