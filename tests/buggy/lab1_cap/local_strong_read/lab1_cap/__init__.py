"""Bug: a strong read returns the local replica, like an eventual read: it can be stale, and
it answers even on a node cut off from every peer.

Caught by: test_strong_read_needs_majority.
Evidence: a strong read answers from a majority"""

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")


class KVNode(ref.KVNode):
    def start_strong_read(self, request, key):
        self.local_read(request, key)
