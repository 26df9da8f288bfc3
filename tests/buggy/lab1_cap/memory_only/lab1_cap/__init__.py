"""Bug: the replica lives only in memory (a dict on the object), not in storage, so a
restarted node comes back empty.

Caught by: test_restart_keeps_data_and_catches_up.
Evidence: a strong write is acknowledged only once a majority holds it in storage"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")
kv = ref.kvnode


class KVNode(ref.KVNode):
    def store(self, key, version, value):
        current = self.data.get(key)
        if not kv.is_newer(version, None if current is None else current[0]):
            return False
        self.data[key] = [version, value]            # and nothing in self.storage
        self.clock = max(self.clock, version[0])
        return True
