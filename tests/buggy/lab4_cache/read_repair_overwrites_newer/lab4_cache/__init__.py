"""Bug: read repair pushes the entry the read returned (not the newest it heard) to every
replica holding something different, and replicas apply repairs without comparing versions:
a read answered from a stale replica rolls the up-to-date replicas back.
Caught by: test_read_repair.
Evidence: a replica's version of a key never goes back
Evidence: seed:
Evidence: run it again:"""
from instructor.testing import reference_lab

ref = reference_lab("lab4_cache")
HashRing, LoadBalancer, stable_hash = ref.HashRing, ref.LoadBalancer, ref.stable_hash


class CacheNode(ref.CacheNode):
    def answer_read(self, c, entry):
        c.returned = entry
        super().answer_read(c, entry)

    def finish(self, c):
        returned = getattr(c, "returned", None)
        if c.op == "get" and returned is not None:
            for home, entry in sorted(c.answers.items()):
                if entry != returned:              # BUG: "different", not "older"
                    self.send(home, {"type": "repair", "key": c.key, "entry": returned})
            c.answers = {}
        super().finish(c)

    def handle_repair(self, src, msg):
        if self.store.get(msg["key"]) is None:
            self.store.put(msg["key"], msg["entry"])
        else:
            self.storage.put("e:" + msg["key"], msg["entry"])   # BUG: no version check
