"""Where a hyperparameter study lives: SQLite on one machine, PostgreSQL across many.

The study lives in an SQLAlchemy storage: ``sqlite:///OUT/study.db`` by default, a
PostgreSQL URL to share it between machines. Workers send a heartbeat while they train; the
trial of a worker that died is failed once its heartbeat is older than twice the interval
(by the next worker that starts a trial) and queued again once with the same parameters.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path
from typing import Any

from telescopeml.errors import DataError

#: Seconds between a worker's heartbeats: a dead worker's trial is failed and queued again
#: after twice this (one small database write per interval).
HEARTBEAT = 10
#: Times a trial whose worker died is queued again with the same parameters.
MAX_RETRY = 1
_OPEN_ATTEMPTS = 5


#: The databases a study may live in (SQLAlchemy backend names).
SUPPORTED = ("sqlite", "postgresql")


def default_storage(out_dir: str | Path) -> str:
    """``sqlite:///OUT/study.db`` (absolute path)."""
    return f"sqlite:///{(Path(out_dir) / 'study.db').resolve()}"


def driver_url(url: str) -> str:
    """``url`` naming a PostgreSQL driver that is installed.

    SQLAlchemy 2.1 reads ``postgresql://`` as psycopg 3; where only psycopg2 is installed
    (``pip install psycopg2-binary``) the URL gets ``postgresql+psycopg2://``.
    """
    from importlib.util import find_spec

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if (parsed.drivername == "postgresql" and find_spec("psycopg") is None
            and find_spec("psycopg2") is not None):
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(
            hide_password=False)
    return url


def open_storage(url: str, heartbeat: int = HEARTBEAT) -> Any:
    """An Optuna RDB storage on ``url`` with heartbeats every ``heartbeat`` seconds.

    A running trial whose heartbeat is older than ``2 * heartbeat`` seconds is failed by the
    next worker that starts a trial, and queued again (:data:`MAX_RETRY` times) with the same
    parameters.

    Workers that start together on an empty database race to create its tables (optuna
    issue 1092): the loser retries, and finds them made.
    """
    import optuna
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise DataError("not a storage URL: give sqlite:///PATH or "
                        "postgresql://USER@HOST/DATABASE", url) from None
    if backend not in SUPPORTED:
        raise DataError(f"{backend} storage is not supported: give sqlite:///PATH or "
                        "postgresql://USER@HOST/DATABASE", safe_url(url))
    failures = 0
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    driver_url(url), heartbeat_interval=heartbeat, grace_period=2 * heartbeat,
                    heartbeat_stale_trial_callback=(
                        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)),
                    engine_kwargs=None if url.startswith("sqlite") else {"pool_pre_ping": True},
                )
        except ImportError as exc:  # the database's driver
            raise DataError(f"cannot open the study storage: {exc} (for PostgreSQL: pip "
                            "install psycopg2-binary)", safe_url(url)) from None
        except SQLAlchemyError as exc:
            failures += 1
            if failures == _OPEN_ATTEMPTS:
                reason = str(exc).splitlines()[0]
                raise DataError(f"cannot open the study storage: {reason}",
                                safe_url(url)) from exc
            time.sleep(0.5 + random.random())


def safe_url(url: str) -> str:
    """``url`` with any password masked, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
