"""Bug: the version counter counts this node's own writes only; it does not jump past the
counters it receives (no Lamport max). A write made after seeing a busier node's writes
gets a lower version and loses to them.

Caught by: test_later_write_wins.
Evidence: a write made after another was seen replaces it"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")
kv = ref.kvnode


class KVNode(ref.KVNode):
    def on_start(self):
        super().on_start()
        self.clock = self.storage.get("clock", 0)

    def store(self, key, version, value):
        current = self.data.get(key)
        if not kv.is_newer(version, None if current is None else current[0]):
            return False
        self.data[key] = [version, value]
        self.storage.put(kv.DATA_PREFIX + key, [version, value])
        return True                  # the clock is not advanced past version[0]
