"""Schema of the ``study:`` section: what-if parameter sweeps over one model file.

Example::

    study:
      mode: grid                     # grid (cartesian) | zip (equal-length lists) | random
      vary:
        - path: ground_stations.svalbard.bandwidth_bps
          values: [5.0e8, 1.0e9, 2.0e9]
        - path: ground_stations      # alternative station sets (names keep items, mappings add)
          name: stations
          values: [[svalbard, singapore, chile], [svalbard, singapore]]
          labels: [all, no-chile]
      remove: [syncs.grad-5]         # applied to every variant
      kpis: [delivered_bytes, unmet_count, avg_wait_minutes]

A path walks the model: mapping keys, list items by ``name`` (or ``id``), index or ``*``
(every item). ``[...]`` quotes a name containing dots: ``nodes[NOAA 20].memory_mb``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from rsmodel.model.vocabulary import Strict


class Axis(Strict):
    """One varied model field and the values it takes."""

    path: str = Field(
        min_length=1, description="Field path, e.g. `nodes.sat-1.battery.capacity_wh`."
    )
    name: str | None = Field(None, description="Dimension name in the results (default: the path).")
    values: list[Any] | None = Field(
        None,
        min_length=1,
        description="Values (grid/zip) or choices (random). For a list section (`ground_stations`, "
        "`nodes`, `syncs`, `jobs`): an integer keeps the first N items; a list keeps the named "
        "items and adds the mappings. `null` removes the field (its default applies).",
    )
    range: tuple[float, float] | None = Field(
        None, description="[low, high] for random samples, or with `num` for a grid."
    )
    num: int | None = Field(
        None, ge=1, description="Grid/zip: number of evenly spaced values over `range`."
    )
    integer: bool = Field(False, description="Round values drawn from `range` to integers.")
    log: bool = Field(False, description="Space/draw `range` values logarithmically.")
    labels: list[str] | None = Field(None, description="Coordinate labels, one per value.")

    @model_validator(mode="after")
    def _one_source(self) -> Axis:
        if (self.values is None) == (self.range is None):
            raise ValueError("give exactly one of `values` or `range`")
        if self.range is not None:
            low, high = self.range
            if not low <= high:
                raise ValueError(f"range low {low} must not exceed high {high}")
            if self.log and low <= 0:
                raise ValueError("a logarithmic range needs positive bounds")
        if (
            self.labels is not None
            and self.values is not None
            and len(self.labels) != len(self.values)
        ):
            raise ValueError(
                f"{len(self.labels)} labels for {len(self.values)} values; give one label per value"
            )
        return self

    @property
    def dim(self) -> str:
        """Name of this axis in the results."""
        return self.name or self.path


class Study(Strict):
    """A what-if study: variants of the model file and the KPIs to collect."""

    mode: Literal["grid", "zip", "random"] = Field("grid", description="How axes combine.")
    vary: list[Axis] = Field(min_length=1, description="The varied fields.")
    samples: int | None = Field(None, ge=1, description="Random mode: number of variants.")
    seed: int = Field(0, description="Random mode: seed of the sampler.")
    set: dict[str, Any] = Field(
        default_factory=dict, description="Path -> value applied to every variant."
    )
    remove: list[str] = Field(
        default_factory=list, description="List items removed from every variant."
    )
    kpis: list[str] | None = Field(None, description="KPIs to collect (default: all).")

    @model_validator(mode="after")
    def _consistent(self) -> Study:
        dims = [a.dim for a in self.vary]
        duplicates = sorted({d for d in dims if dims.count(d) > 1})
        if duplicates:
            raise ValueError(
                f"axis names must be unique; repeated: {', '.join(duplicates)} (give `name:`)"
            )
        if self.mode == "random":
            if self.samples is None:
                raise ValueError("random mode needs `samples` (the number of variants)")
            return self
        for axis in self.vary:
            if axis.range is not None and axis.num is None:
                raise ValueError(
                    f"axis {axis.dim!r}: a range in {self.mode} mode needs `num` (number of values)"
                )
        if self.mode == "zip":
            lengths = {a.dim: len(a.values) if a.values is not None else a.num for a in self.vary}
            if len(set(lengths.values())) > 1:
                listed = ", ".join(f"{k}: {v}" for k, v in lengths.items())
                raise ValueError(f"zip mode needs value lists of equal length; got {listed}")
        return self
