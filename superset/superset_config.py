"""Superset's configuration for Sluice (SUPERSET_CONFIG_PATH points here).

It runs inside Superset's own environment, which has none of Sluice's packages, so everything Sluice decides comes
in through the environment that `sluice.stack.superset.superset_env` builds: the profile, the secret key and the
metadata database's address.
"""

import os

from pyhive import sqlalchemy_hive

PROFILE = os.environ.get("SLUICE_PROFILE", "local")

# Superset signs sessions and encrypts stored database passwords with this key; a default one lets anyone forge an
# admin session (CVE-2023-27524). Superset refuses its own default; Sluice also refuses an empty or short one.
SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "")
_KNOWN_DEFAULT_KEYS = {  # Superset's own default, and keys copied from its docs and docker files
    "",
    "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET",
    "CHANGE_ME_SECRET_KEY",
    "thisISaSECRET_1234",
    "YOUR_OWN_RANDOM_GENERATED_SECRET_KEY",
    "TEST_NON_DEV_SECRET",
}
if SECRET_KEY in _KNOWN_DEFAULT_KEYS or len(SECRET_KEY) < 32:
    hint = "`sluice up` generates one locally" if PROFILE == "local" else "e.g. `openssl rand -base64 42`"
    raise SystemExit(
        f"Refusing to start Superset (profile {PROFILE!r}): SUPERSET_SECRET_KEY is missing, a published default or "
        f"shorter than 32 characters. Set SLUICE_SUPERSET_SECRET_KEY to a long random value ({hint})."
    )

SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_METADATA_DB_URI"]

# Roles and users are provisioned by `sluice superset sync` over the REST API.
FAB_ADD_SECURITY_API = True
# `sluice superset sync` lists each kind of object in one page: Superset's lists have no stable order (the security
# API's none at all), so the pages of a longer list overlap and miss rows.
FAB_API_MAX_PAGE_SIZE = 10_000

# Chart results are cached in the metadata database, which every gunicorn worker shares, and their keys are recorded
# there too, so the refresh DAG can drop exactly the results of the marts it just published
# (/api/v1/cachekey/invalidate).
# That endpoint deletes from CACHE_CONFIG's cache, so chart data (DATA_CACHE_CONFIG) shares its backend and prefix.
# The metastore cache pickles by default; a JSON codec would fail silently on the DataFrames it stores.
_RESULTS_CACHE = {
    "CACHE_TYPE": "SupersetMetastoreCache",
    "CACHE_DEFAULT_TIMEOUT": 24 * 3600,
    "CACHE_KEY_PREFIX": "sluice_",
}
CACHE_CONFIG = dict(_RESULTS_CACHE)
DATA_CACHE_CONFIG = dict(_RESULTS_CACHE)
STORE_CACHE_KEYS_IN_METADATA_DB = True

# Spark queries over the lake take seconds, more on a cold endpoint.
SUPERSET_WEBSERVER_TIMEOUT = 120
SQLLAB_TIMEOUT = 120
SQLLAB_CTAS_NO_LIMIT = False
THUMBNAILS = False
FEATURE_FLAGS = {"ALERT_REPORTS": False}
# Login attempts per second and address; the tests and the sync log in often from 127.0.0.1.
AUTH_RATE_LIMIT = "20 per second"
RATELIMIT_STORAGE_URI = "memory://"


# Spark's `SHOW TABLES` / `SHOW VIEWS` answer (namespace, name, isTemporary) where Hive answers (name): PyHive and
# Superset's Hive engine spec take the first column, so every table of a schema would be listed as the schema's own
# name (dropbox/PyHive#150, #461). Take the name column when the answer has three, and leave out temporary views.
def _names(rows):
    return [row[1] if len(row) >= 3 else row[0] for row in rows if len(row) < 3 or not row[2]]


def _hive_table_names(self, connection, schema=None, **kw):
    query = "SHOW TABLES"
    if schema:
        query += " IN " + self.identifier_preparer.quote_identifier(schema)
    return _names(connection.exec_driver_sql(query))


sqlalchemy_hive.HiveDialect.get_table_names = _hive_table_names


def _hive_view_names(cls, database, inspector, schema):
    with database.get_raw_connection(schema=schema) as conn:
        cursor = conn.cursor()
        cursor.execute("SHOW VIEWS" + (f" IN `{schema}`" if schema else ""))
        return set(_names(cursor.fetchall()))


def _patch_engine_spec(app):  # Superset's hook, called once the app is initialised
    from superset.db_engine_specs.hive import HiveEngineSpec  # importable only after init_app

    HiveEngineSpec.get_view_names = classmethod(_hive_view_names)


FLASK_APP_MUTATOR = _patch_engine_spec
