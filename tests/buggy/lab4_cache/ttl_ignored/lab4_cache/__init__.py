"""Bug: the ttl of a put is stored but never checked: expired values are still returned.
Caught by: test_ttl_expiry.
Evidence: a value expires ttl seconds after its put
Evidence: seed:
Evidence: run it again:"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def start_operation(self, origin, body):
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "ttl"}   # BUG: ttl dropped
        super().start_operation(origin, body)
