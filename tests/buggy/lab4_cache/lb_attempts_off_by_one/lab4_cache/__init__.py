"""Bug: the balancer gives up only once the attempts *exceed* MAX_ATTEMPTS (``>`` for ``>=``),
so a request whose forwards all go unanswered is tried four times, not three.
Caught by: test_retries_reads.
Evidence: the balancer tries a request at most MAX_ATTEMPTS = 3 times, then answers an error
Evidence: 4 forwards, but lb may try a request at most 3 times"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
CacheNode, HashRing, stable_hash = ref.CacheNode, ref.HashRing, ref.stable_hash


backoff_delay = ref.balancer.backoff_delay


class LoadBalancer(ref.LoadBalancer):
    def retry_later(self, f, why):
        if f.attempts > self.MAX_ATTEMPTS:               # BUG: > for >=, one attempt too many
            self.finish(f, {"error": "unavailable", "detail": f"{why}; gave up after "
                                                              f"{f.attempts} attempts"})
            return
        delay = backoff_delay(f.attempts - 1, self.BACKOFF_BASE, self.BACKOFF_MAX, self.rng)
        self.set_timer(f"retry:{f.fid}", delay, fid=f.fid)
