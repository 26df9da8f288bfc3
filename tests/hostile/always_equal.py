"""Makes every method and property of the submission's objects (the circuit breaker, a ring)
return an object that equals everything, is true, hashes like anything and prints as the
expected value: a grader that compares what it gets back (``breaker.state == "open"``) with the
object's own ``__eq__`` would pass. Nodes are left alone."""


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __lt__(self, other):
        return False

    __le__ = __ge__ = __eq__
    __gt__ = __lt__

    def __hash__(self):
        return 0

    def __bool__(self):
        return True

    def __len__(self):
        return 3

    def __contains__(self, item):
        return True

    def __iter__(self):
        return iter(())

    def __float__(self):
        return 1.0

    def __index__(self):
        return 1

    def __repr__(self):
        return "'closed'"

    __str__ = __repr__


PATCHED = set()


def attack(obj):
    if obj is None or hasattr(obj, "on_start"):
        return
    cls = type(obj)
    if cls in PATCHED:
        return
    PATCHED.add(cls)
    for klass in cls.__mro__[1:]:
        if klass is object:
            continue
        for name, member in list(vars(klass).items()):
            if name.startswith("_") or hasattr(cls, "_patched_" + name):
                continue
            setattr(cls, "_patched_" + name, True)
            if isinstance(member, property):
                setattr(cls, name, property(lambda self: AlwaysEqual()))
            elif callable(member):
                setattr(cls, name, lambda self, *a, **k: AlwaysEqual())
