"""Typed records that travel between steps: what a model file says about itself, and what an
evaluation found. Each is written as JSON-ready data and read back with a check, so a file of
another kind (or of an older layout) is a clear error, not a KeyError deep in a step.
"""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any

from crgan.runs import Evaluation, Run


class RecordError(ValueError):
    """Data that is not the record it should be (missing or unknown fields)."""


def _checked(cls: type, data: Any) -> Any:
    """``cls(**data)``, the fields as stored; a missing field without a default, or an unknown one,
    raises RecordError (a field added later with a default reads older records as that default)."""
    names = {f.name for f in fields(cls)}
    required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
    if not isinstance(data, dict) or not required <= set(data) <= names:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise RecordError(f"expected the fields {sorted(names)} of a {cls.__name__}, found {found}")
    return cls(**data)


def _run(data: Any) -> Run:
    """A run from its stored fields."""
    try:
        return Run.from_dict(data)
    except (KeyError, TypeError):
        raise RecordError(f"expected a run (method, source, target, variant, seed), found {data!r}") from None


class Record:
    """A record's JSON-ready form (nested runs become dicts) and its checked inverse."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Any:
        return cls._restore(_checked(cls, data))

    @classmethod
    def _restore(cls, record: Any) -> Any:
        """Turn the stored forms of typed fields back into their types (a stored run into a Run)."""
        return replace(record, run=_run(record.run)) if "run" in {f.name for f in fields(cls)} else record


@dataclass(frozen=True)
class NetworkInfo(Record):
    """A re-id network file's metadata (source models, fine-tuned models, TAUDL networks).

    ``classes`` is what its classifier distinguishes: the identity count of ``domain`` for IDE
    networks, the tracklets per camera for TAUDL's heads. ``init`` says where the backbone
    started (``scratch``, ``imagenet:<file>``, or the network a fine-tuning or TAUDL run began
    from). ``final`` is the last row of its training log; ``details`` holds method-specific facts.
    """

    run: Run
    domain: str
    init: str
    arch: dict[str, Any]
    classes: int | list[int]
    image_size: tuple[int, int]
    synthetic: bool
    final: dict[str, Any]
    provenance: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _restore(cls, record: NetworkInfo) -> NetworkInfo:
        return replace(super()._restore(record), image_size=tuple(record.image_size))


@dataclass(frozen=True)
class GeneratorInfo(Record):
    """A generator file's metadata (CR-GAN's G or SPGAN's source -> target G)."""

    run: Run
    architecture: dict[str, Any]
    iterations: int
    final: dict[str, Any]
    provenance: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationRecord(Record):
    """CMC/mAP of one run's network on one domain (``metrics``: per pooling, in percent), on its test
    split (``split`` ``test``: what tables and claims read) or its validation split (``validation``:
    budget curves only, never a table or a claim)."""

    evaluation: Evaluation
    init: str
    synthetic: bool
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    split: str = "test"

    @property
    def run(self) -> Run:
        return self.evaluation.run

    @property
    def seed(self) -> int:
        return self.evaluation.run.seed

    @classmethod
    def _restore(cls, record: EvaluationRecord) -> EvaluationRecord:
        ev = record.evaluation
        if not isinstance(ev, dict) or set(ev) != {"run", "test"}:
            raise RecordError("expected an evaluation record (its 'evaluation' names the run and test domain)")
        return replace(record, evaluation=Evaluation(_run(ev["run"]), ev["test"]))


def read_record(data: Any) -> EvaluationRecord | QualityRecord:
    """An evaluation or image-quality record from its stored form (told apart by their fields)."""
    return (EvaluationRecord if isinstance(data, dict) and "evaluation" in data else QualityRecord).from_dict(data)


@dataclass(frozen=True)
class QualityRecord(Record):
    """LPIPS/FID/KID of one method's images for a pair, with the feature networks used."""

    method: str
    source: str
    target: str
    seed: int
    synthetic: bool
    metrics: dict[str, float]
    metric_backbone: dict[str, str]
    counts: dict[str, int]
    generator: str | None
    provenance: dict[str, Any]

