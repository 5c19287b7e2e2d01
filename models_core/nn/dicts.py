"""Plain-dict round trips for the engine's frozen configuration dataclasses.

Checkpoints and the database store configurations as JSON-friendly dicts; `DictMixin` gives a
flat dataclass ``to_dict`` / ``from_dict`` (unknown keys refused, missing keys defaulted) and
``replace``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

__all__ = ["DictMixin"]


class DictMixin:
    """`to_dict` / `from_dict` for flat dataclasses of JSON-friendly values."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build from `to_dict()` output; unknown keys are an error, missing keys take defaults."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {unknown}; allowed: {sorted(names)}")
        return cls(**data)

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]
