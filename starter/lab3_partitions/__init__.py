"""Lab 3: partitions and quorum writes.

Part A: ``Topology`` (topology.py), a model of a partitioned network.
Part B: ``QuorumNode`` (quorum.py), a replicated register store that stays correct under
partitions (the ABD algorithm, key by key). The handout is assignments/lab3-partitions.md.
"""

from .quorum import (ANTI_ENTROPY_INTERVAL, QUORUM_TIMEOUT, RETRY_INTERVAL, QuorumNode)
from .topology import Topology

__all__ = ["Topology", "QuorumNode", "QUORUM_TIMEOUT", "RETRY_INTERVAL", "ANTI_ENTROPY_INTERVAL"]
