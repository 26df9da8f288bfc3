"""Bug: a strong write counts write acknowledgements, not the distinct homes that sent them.

A duplicated (or resent) acknowledgement from one home counts twice, so a put is acknowledged
when only one home holds it, or while two of its three homes are down.
Caught by: test_strong_refuses_without_quorum
Evidence: a strong write is acknowledged only once W = 2 distinct home replicas hold it"""

from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class Acks(list):
    def add(self, home):
        self.append(home)                                # BUG: the same home twice counts 2


class CacheNode(ref.CacheNode):
    def strong_write_begin(self, c):
        c.acks = Acks()
        super().strong_write_begin(c)
