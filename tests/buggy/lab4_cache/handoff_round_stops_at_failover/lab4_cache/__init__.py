"""Bug: a handoff round stops (``break``) once it has offered one hint to a fallback node, so
a coordinator hands its hints for a down home over one per round (0.1 s): five of them take
half a second and more, and every other hint waits behind them.
Caught by: test_hinted_handoff.
Evidence: a copy for a down replica goes to the next node and reaches the owner later
Evidence: every handoff round handles every hint"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def timer_handoff(self):
        self.handoff_armed = False
        for record in self.hints.records():
            key, owner = record["key"], record["owner"]
            if not record["fallback"] and self.now() - record["since"] >= self.FAILOVER_AFTER:
                fallbacks = self.fallbacks(key)
                if self.id in fallbacks:
                    self.hints.update(record, fallback=True)
                elif fallbacks:
                    target = fallbacks[record["tries"] % len(fallbacks)]
                    self.hints.update(record, tries=record["tries"] + 1)
                    self.send(target, {"type": "hint", "owner": owner, "key": key,
                                       "entry": record["entry"]})
                    break                                # BUG: continue with the next hint
            self.send(owner, {"type": "handoff", "key": key, "entry": record["entry"]})
        self.arm_handoff()
