"""Reliability scores (0-1) per telescope, from outcomes over a rolling window, persisted as JSON.

``score = (w * initial + successes) / (w + n)`` over the last ``window`` outcomes, where
``initial`` is the model's configured reliability and ``w`` its weight in outcomes
(``reliability_prior_weight``). The store is a small JSON file written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rsmodel.errors import ModelError
from rsmodel.io import write_json
from rsmodel.model.telescope_network import Network

STORE_VERSION = 1


def default_store_path(net: Network) -> Path:
    """``state_store`` from the model (relative to the model file) or ``.rsmodel/<name>.telescopes.json``."""
    base = net.model_file.resolve().parent if net.model_file else Path.cwd()
    if net.settings.state_store:
        return base / net.settings.state_store
    return base / ".rsmodel" / f"{net.name}.telescopes.json"


@dataclass
class ReliabilityStore:
    """Outcome history per telescope (1 = success, 0 = failure), newest last."""

    path: Path
    outcomes: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ReliabilityStore:
        """Read the store; a missing file is an empty history."""
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            outcomes = {
                str(k): [int(bool(x)) for x in v["outcomes"]] for k, v in data["telescopes"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(
                f"not a reliability store ({exc}); expected the JSON written by rsmodel", file=path
            ) from None
        return cls(path, outcomes)

    def record(self, telescope: str, success: bool, window: int) -> None:
        """Append one outcome, keeping the last ``window``."""
        history = self.outcomes.setdefault(telescope, [])
        history.append(int(success))
        del history[:-window]

    def score(self, telescope: str, initial: float, prior_weight: float) -> float:
        """Current reliability of a telescope (0-1)."""
        history = self.outcomes.get(telescope, [])
        if not history and prior_weight == 0:
            return initial
        return (prior_weight * initial + sum(history)) / (prior_weight + len(history))

    def scores(self, net: Network) -> np.ndarray:
        """Reliability of each telescope of ``net``, in order."""
        w = net.settings.reliability_prior_weight
        return np.array([self.score(t.name, t.reliability, w) for t in net.telescopes])

    def save(self, net: Network) -> Path:
        """Write the store atomically (history and the resulting scores)."""
        scores = self.scores(net)
        data = {
            "schema_version": STORE_VERSION,
            "window": net.settings.reliability_window,
            "telescopes": {
                name: {"outcomes": hist, "score": _score_of(net, scores, name)}
                for name, hist in sorted(self.outcomes.items())
            },
        }
        return write_json(self.path, data)


def _score_of(net: Network, scores: np.ndarray, name: str) -> float | None:
    names = [t.name for t in net.telescopes]
    return round(float(scores[names.index(name)]), 6) if name in names else None
