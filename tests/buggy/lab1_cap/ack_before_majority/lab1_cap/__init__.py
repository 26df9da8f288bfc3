"""Bug: a strong write is acknowledged as soon as it is stored locally, before any peer holds
it (it is really an eventual write), so a node in the minority acknowledges strong writes.

Caught by: test_strong_write_refused_in_minority.
Evidence: a strong write is acknowledged only once a majority holds it in storage"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")


class KVNode(ref.KVNode):
    def start_strong_write(self, request, key, value):
        self.eventual_write(request, key, value)
