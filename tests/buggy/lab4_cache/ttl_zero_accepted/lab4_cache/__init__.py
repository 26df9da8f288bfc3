"""Bug: a put's ttl is checked with ``ttl < 0`` instead of ``ttl <= 0``, so ``"ttl": 0`` is
accepted (a value that is never visible) instead of being refused as a bad request.
Caught by: test_basic_operations.
Evidence: a malformed request is answered {'error': 'bad_request'}
Evidence: is a ttl of 0 (a ttl is a number > 0)"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash
_bad_request = ref.cache.bad_request


def bad_request(body):
    if isinstance(body, dict) and body.get("op") == "put" and body.get("ttl") == 0:
        return ""                                        # BUG: ttl < 0 refused, 0 accepted
    return _bad_request(body)


ref.cache.bad_request = bad_request    # the reference's start_operation calls this one now
CacheNode = ref.CacheNode
