"""Lab 3: partitions and quorum writes (reference solution).

Part A: ``Topology``, a model of a partitioned network. Part B: ``QuorumNode``, a replicated
register store that stays correct under partitions (the ABD algorithm, key by key).
"""

from .quorum import (ANTI_ENTROPY_INTERVAL, QUORUM_TIMEOUT, RETRY_INTERVAL, QuorumNode)
from .topology import Topology

__all__ = ["Topology", "QuorumNode", "QUORUM_TIMEOUT", "RETRY_INTERVAL", "ANTI_ENTROPY_INTERVAL"]
