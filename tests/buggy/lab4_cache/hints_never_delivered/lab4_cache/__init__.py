"""Bug: hints are kept (and handed to a fallback node) but never sent on to their owner, so a
home replica that was down during an eventual write never gets it.
Caught by: test_hinted_handoff.
Evidence: reaches the owner later
Evidence: seed:
Evidence: run it again:"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def timer_handoff(self):
        for record in self.hints.records():
            if not record["fallback"] and self.now() - record["since"] >= self.FAILOVER_AFTER:
                fallbacks = self.fallbacks(record["key"])
                if fallbacks and self.id not in fallbacks:
                    target = fallbacks[record["tries"] % len(fallbacks)]
                    self.hints.update(record, tries=record["tries"] + 1)
                    self.send(target, {"type": "hint", "owner": record["owner"],
                                       "key": record["key"], "entry": record["entry"]})
            # BUG: no "handoff" to the owner, ever
        self.set_timer("handoff", self.HANDOFF_INTERVAL)
