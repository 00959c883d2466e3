"""Python client of the Quorum portal's REST API, and the `quorum` command.

    from quorum_client import Client
    quorum = Client()  # $QUORUM_URL, $QUORUM_TOKEN, else the login `quorum login` stored
    quorum.register_version("grocery-demand-forecast", "1.4.0", framework="lightgbm")

Needs only requests (and PyYAML for use case files written in YAML): no Django settings.
Reference of every call and command: docs/client.md.
"""

__version__ = "0.1.0"

from quorum_client.client import Client  # noqa: E402
from quorum_client.errors import (  # noqa: E402
    CampaignTimeout,
    EvaluationFailed,
    EvaluationTimeout,
    QuorumError,
    UseCaseIncomplete,
    WaitTimeout,
)

__all__ = [
    "CampaignTimeout",
    "Client",
    "EvaluationFailed",
    "EvaluationTimeout",
    "QuorumError",
    "UseCaseIncomplete",
    "WaitTimeout",
    "__version__",
]
