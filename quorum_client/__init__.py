"""Python client of the Quorum portal's REST API, and the `quorum` command.

    from quorum_client import Client
    quorum = Client()  # $QUORUM_URL, $QUORUM_TOKEN
    quorum.register_version("grocery-demand-forecast", "1.4.0", framework="lightgbm")

Needs only requests: no Django settings.
"""

__version__ = "0.1.0"

from quorum_client.client import Client  # noqa: E402
from quorum_client.errors import EvaluationFailed, EvaluationTimeout, QuorumError  # noqa: E402

__all__ = ["Client", "EvaluationFailed", "EvaluationTimeout", "QuorumError", "__version__"]
