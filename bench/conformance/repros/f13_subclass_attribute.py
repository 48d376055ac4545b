"""F13: SimLoop's read-only properties (``steps``, ``seed``, ``scheduler``, ``trace``) take
names that a loop subclass may use for its own state: aiostream's test loop keeps a list in
``self.steps``, so a SimLoop-based stand-in for it fails with "property 'steps' ... has no
setter" until it shadows the property."""

from _support import report, simloop


class CountingLoop(simloop.SimLoop):
    def __init__(self) -> None:
        super().__init__()
        self.steps = []  # a subclass's own attribute


def check() -> bool:
    try:
        CountingLoop().close()
    except AttributeError as exc:
        return report("F13 SimLoop property names", True, f"AttributeError: {exc}")
    return report("F13 SimLoop property names", False, "a subclass may set self.steps")


if __name__ == "__main__":
    check()
