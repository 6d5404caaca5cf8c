"""dhansim: a DhanHQ v2 simulator (REST + order-update socket + matching + fault injection).

In process::

    with dhansim.running(seed=1) as sim:
        sim.admin.create_account("1000000001", "token-1")
        ...  # point the dhanhq SDK or the engine at sim.rest_url / sim.order_feed_url

Out of process: ``python -m dhansim --port 8700`` (or ``python -m copytrader sim``).
User documentation: ``docs/simulator.md``.
"""

from dhansim.admin import AdminCallError, AdminClient
from dhansim.server import SimCore, Simulator, running
from dhansim.switches import PartialFills, Switches

__all__ = [
    "AdminCallError",
    "AdminClient",
    "PartialFills",
    "SimCore",
    "Simulator",
    "Switches",
    "running",
]
