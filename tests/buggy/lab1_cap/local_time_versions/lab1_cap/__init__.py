"""Bug: versions are the coordinator's local time, compared alone (no Lamport counter, no
node-id tie-break). Writes made at the same instant tie, each node keeps its own, and the
replicas never agree.

Caught by: test_concurrent_writes_one_winner.
Evidence: concurrent writes settle on one winner"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")
kv = ref.kvnode


class KVNode(ref.KVNode):
    def new_version(self):
        return [self.now(), self.id]

    def store(self, key, version, value):
        current = self.data.get(key)
        if current is not None and version[0] <= current[0][0]:   # time only
            return False
        self.data[key] = [version, value]
        self.storage.put(kv.DATA_PREFIX + key, [version, value])
        return True
