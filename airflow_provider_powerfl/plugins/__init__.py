"""PowerFL's Airflow plugin: the flow-server REST API and the task dashboard in each party's api-server.

Registered by the package's ``airflow.plugins`` entry point (Airflow loads provider-info plugins only when
``[core] lazy_discover_providers`` is off) and by the provider info's ``plugins``; see docs/flow_server.md.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_powerfl.plugins.dashboard import app as dashboard_app
from airflow_provider_powerfl.plugins.flow_server.app import app as flow_server_app

FLOW_SERVER_PREFIX = "/flow-server"
DASHBOARD_PREFIX = "/powerfl"


class PowerFLPlugin(AirflowPlugin):
    """Mounts /flow-server and /powerfl; links the dashboard from the navigation and from every DAG run."""

    name = "powerfl"
    fastapi_apps = [
        {"app": flow_server_app, "url_prefix": FLOW_SERVER_PREFIX, "name": "PowerFL flow-server"},
        {"app": dashboard_app, "url_prefix": DASHBOARD_PREFIX, "name": "PowerFL dashboard"},
    ]
    external_views = [
        {"name": "PowerFL", "href": "powerfl/", "destination": "nav", "url_route": "powerfl"},
        {"name": "PowerFL job", "href": "powerfl/#/jobs/{RUN_ID}", "destination": "dag_run", "url_route": "powerfl-job"},
    ]
