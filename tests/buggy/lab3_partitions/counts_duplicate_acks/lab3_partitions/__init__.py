"""Bug: the store phase counts acknowledgements, not the distinct replicas that sent them.

A duplicated or resent ack is counted twice, so a coordinator that hears only one peer
(itself + the same peer twice = "3 of 5") acknowledges a write in a minority.
Caught by: test_lossy_network_majority_serves_minority_refuses
Evidence: a write is acknowledged only once a majority of distinct nodes hold it in storage"""

from instructor.testing import reference_lab

ref = reference_lab("lab3_partitions")
Topology = ref.Topology


class Acks(list):
    def add(self, src):
        self.append(src)                                 # BUG: the same replica twice counts 2


class QuorumNode(ref.QuorumNode):
    def start_store(self, op):
        op.phase, op.answered = "store", Acks()
        self.store_locally(op.key, op.version, op.value)
        self.send_phase(op, self.peers)
        self.on_store_ack(op, self.id)

    def handle_store_ack(self, src, msg):
        op = self.pending.get(msg["op"])
        if op is not None and op.phase == "store":     # BUG: no check that src is new
            self.on_store_ack(op, src)
