"""A circuit breaker: after `threshold` failures in a row the circuit opens for `open_s`, then lets one
call through (half-open): its success closes the circuit, its failure opens it again."""

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(self, threshold: int = 5, open_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.open_s = open_s
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None

    def allows(self) -> bool:
        return self.opened_at is None or self.clock() - self.opened_at >= self.open_s

    def succeeded(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()
