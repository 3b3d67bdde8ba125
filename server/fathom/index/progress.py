"""What a run tells its caller as it goes: the CLI draws bars, the server sends `$/progress`."""
from __future__ import annotations


class Progress:
    def files(self, done: int, total: int) -> None: ...

    def embedding(self, done: int, total: int) -> None: ...

    def message(self, text: str) -> None: ...

    def failed(self, text: str) -> None:
        """The pass stopped; what is already indexed still answers."""
        self.message(text)
