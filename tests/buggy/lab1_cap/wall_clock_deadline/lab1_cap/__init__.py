"""Bug: the strong-write deadline is measured on the wall clock (time.time()) instead of
self.now(). In the simulator a virtual second passes in a millisecond of real time, so a
minority write keeps waiting far past its 0.5 s, and the remaining time it logs differs from
run to run: the grader reports the missing refusal *and* that the run is not deterministic.

Caught by: test_strong_write_refused_in_minority (diagnosed as not deterministic).
Evidence: your implementation is not deterministic"""

import time

from instructor.testing import reference_lab

ref = reference_lab("lab1_cap")
kv = ref.kvnode


class KVNode(ref.KVNode):
    def start_strong_write(self, request, key, value):
        super().start_strong_write(request, key, value)
        newest = max(self.writes.values(), key=lambda w: w.version)
        newest.wall_deadline = time.time() + kv.STRONG_TIMEOUT

    def timer_write(self, wid):
        write = self.writes.get(wid)
        if write is not None:
            left = write.wall_deadline - time.time()
            self.log(f"strong write {wid}: {left:.6f}s left")
            write.deadline = self.now() + left
        super().timer_write(wid)
