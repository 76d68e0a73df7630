"""The run catalogue: every trained network, evaluation and image-quality result, named once.

A :class:`Run` is one trained network, identified by its method, domains, CR-GAN variant or start,
and seed. What a method's runs are (their folders, files, starts, variants and labels) is declared in
the method registry (:mod:`crgan.methods`); a run reads it there. A run owns its output paths (the
Snakemake rules are written with the same templates), its row key and label, and
:meth:`Run.from_path`, which reads a result path back into a run (the report uses it). An
:class:`Evaluation` is a run tested on a domain; a :class:`Quality` is one method's images measured
for a pair (Tables 1 and 4). The datasets' indexes and masks have their paths here too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from crgan.methods import (
    DATA_ROWS,
    DOMAIN_SHORT,
    DOMAINS,
    METHODS,
    VARIANTS,
    Method,
    label,
    loss_log,
    sample_grid,
    training_log,
)

#: A dataset's checked index and its person masks, per data draw (``{domain}`` may be any wildcard name).
INDEX_FILE = "results/data/draw{draw}/{domain}.json"
MASKS_DIR = "results/masks/draw{draw}/{domain}"
QUALITY_FILE = "results/quality/{source}-{target}/{method}/seed{seed}.json"


def draw_of(seed: int | str, synthetic: bool) -> int:
    """The data draw of a seed bundle: a seed's own draw of the synthetic benchmark and of its mask
    errors (the bundle's training seed, data and masks move together); real data has one draw, 0."""
    return int(seed) if synthetic else 0


def draw_seed(base: int, draw: int) -> int:
    """The seed of a random source (the benchmark's ``synthetic.seed``, the masks' ``parser_seed``) in
    data draw ``draw``: every source of a bundle moves with its draw."""
    return base + draw


def synthetic_dir(root: str, domain: str = "{domain}", draw: int | str = "{draw}") -> str:
    """Where one draw of a synthetic domain is generated (draw n is the benchmark at ``synthetic.seed + n``)."""
    return f"{root}/draw{draw}/{domain}"


def index_file(domain: str = "{domain}", draw: int | str = "{draw}") -> str:
    """A domain's index file of one data draw (``index_file("{source}")`` is a rule's template)."""
    return INDEX_FILE.format(domain=domain, draw=draw)


def masks_dir(domain: str = "{domain}", draw: int | str = "{draw}") -> str:
    """A domain's mask folder of one data draw."""
    return MASKS_DIR.format(domain=domain, draw=draw)


_DOMAIN = "|".join(DOMAINS)
_NETWORK_STARTS = sorted({key for m in METHODS.values() for key in m.network_starts.values()})
_BARE_STARTS = sorted({key for m in METHODS.values() for key, s in m.starts.items() if s.kind != "network"})
#: The values each wildcard may take (the rules' ``wildcard_constraints``).
WILDCARDS = {
    "domain": _DOMAIN, "test": _DOMAIN, "source": _DOMAIN, "target": _DOMAIN, "seed": r"\d+", "draw": r"\d+",
    "variant": "|".join(VARIANTS),
    "start": f"{'|'.join(_BARE_STARTS)}|(?:{'|'.join(_NETWORK_STARTS)})-(?:{_DOMAIN})",
}


def _regex(template: str, wildcards: dict[str, str] = WILDCARDS) -> re.Pattern[str]:
    """A path template as a regex with a named group per wildcard, matching a whole path component
    sequence anywhere in a path (followed by a folder separator, a suffix or the end)."""
    parts = re.split(r"\{(\w+)\}", template.removesuffix(".json"))
    out = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{wildcards.get(p, '[^/]+')})"
                  for i, p in enumerate(parts))
    return re.compile(f"(?:^|/){out}(?=/|\\.|$)")


@dataclass(frozen=True)
class Run:
    """One trained network.

    ``source`` is the labelled domain it learnt from (a re-id model's own domain; CR-GAN's and
    SPGAN's source; a started run's starting pair's source, None for a plain or untrained start);
    ``target`` the unlabelled domain it adapts to (None for re-id); ``variant`` the CR-GAN variant
    (its method's ``variants``); ``start`` where a TAUDL or Cluster Contrast run begins (its method's
    ``starts``). ``seed`` None stands for every seed (a table row).
    """

    method: str
    source: str | None
    target: str | None = None
    variant: str | None = None
    seed: int | None = None
    start: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r} (expected one of {', '.join(METHODS)})")
        spec = METHODS[self.method]
        if (self.variant is not None or spec.variants) and self.variant not in spec.variants:
            raise ValueError(f"unknown {spec.label} variant {self.variant!r} (expected one of "
                             f"{', '.join(spec.variants) or 'none'})")
        if self.start is not None and not spec.starts:
            raise ValueError(f"{spec.label} has no starts (given {self.start!r})")
        if spec.starts:
            start = spec.starts.get(self.start)
            if start is None or (start.kind == "network") != (self.source is not None):
                bare = [k for k, s in spec.starts.items() if s.kind != "network"]
                raise ValueError(f"{spec.label} start {self.start!r} from {self.source!r}: expected "
                                 f"{' or '.join(bare)} without a source, or "
                                 f"{'/'.join(k for k in spec.starts if k not in bare)} with one")

    @property
    def spec(self) -> Method:
        """This run's method, as the registry declares it."""
        return METHODS[self.method]

    @classmethod
    def reid(cls, domain: str, seed: int | None = None) -> Run:
        return cls("reid", domain, None, None, seed)

    @classmethod
    def crgan(cls, source: str, target: str, variant: str = "crgan", seed: int | None = None) -> Run:
        return cls("crgan", source, target, variant, seed)

    @classmethod
    def of_pair(cls, method: str, source: str, target: str, seed: int | None = None) -> Run:
        """A run of a method that learns from a pair (SPGAN, the paste and AdaBN controls)."""
        return cls(method, source, target, None, seed)

    @classmethod
    def main(cls, method: str, source: str, target: str, seed: int | None = None) -> Run:
        """A pair method's main run: CR-GAN's full variant, or the method's only run."""
        return cls(method, source, target, METHODS[method].main_variant, seed)

    @classmethod
    def started(cls, method: str, target: str, start: str, source: str | None = None, seed: int | None = None) -> Run:
        """A run of a method that adapts on the unlabelled ``target`` from ``start`` (TAUDL, Cluster
        Contrast): a start from another method's network names that network's ``source``."""
        return cls(method, source, target, None, seed, start)

    def at(self, seed: int) -> Run:
        """This run for one seed."""
        return replace(self, seed=seed)

    @property
    def start_name(self) -> str:
        """A started run's ``{start}`` folder: ``plain``, ``untrained`` or ``<method>-<source>``."""
        return self.start if self.source is None else f"{self.start}-{self.source}"

    def wildcards(self) -> dict[str, Any]:
        """The values of this run's path wildcards."""
        layout = self.spec.layout
        if layout == "domain":
            return {"domain": self.source, "seed": self.seed}
        if layout == "start":
            return {"target": self.target, "start": self.start_name, "seed": self.seed}
        return {"source": self.source, "target": self.target, "variant": self.variant, "seed": self.seed}

    @property
    def directory(self) -> str:
        return self.spec.run_dir.format(**self.wildcards())

    @property
    def network(self) -> str:
        """The re-id network this run ends with (what evaluation and started runs read)."""
        return f"{self.directory}/{self.spec.network_file}"

    @property
    def generator(self) -> str | None:
        """The run's generator file (None for methods without one)."""
        return f"{self.directory}/{self.spec.generator_file}" if self.spec.generator_file else None

    @property
    def training_logs(self) -> list[str]:
        """Loss curves (CSV) and the sample grid (PNG) of this run's training steps."""
        logs = [training_log(self.network)]
        if self.generator:
            logs += [loss_log(self.generator), sample_grid(self.generator)]
        return logs

    @property
    def start_run(self) -> Run | None:
        """The run whose network a started run begins from (None for a plain or untrained start, and
        for methods that do not start from another network)."""
        start = self.spec.starts.get(self.start)
        if start is None or start.method is None:
            return None
        starting = METHODS[start.method]
        target = None if starting.layout == "domain" else self.target  # a re-id model has no target
        return Run(start.method, self.source, target, starting.main_variant, self.seed)  # a variant method: its main one

    @property
    def begins_from(self) -> Run | None:
        """The run whose network this run's training begins from: a started run's start, the network
        an AdaBN control re-normalises, the source model (Did) of CR-GAN, SPGAN and paste; None for a
        re-id model and a plain or untrained start."""
        if self.spec.starts:
            return self.start_run
        if self.spec.key == "reid":
            return None
        begins = self.spec.adapts or "reid"
        if begins == "reid":
            return Run.reid(self.source, self.seed)
        return Run(begins, self.source, self.target, METHODS[begins].main_variant, self.seed)

    @property
    def budgets(self) -> tuple[str, ...]:
        """The budget curves this run's network depends on: its own training's, then those of the
        networks it begins from (none for an untrained floor, which trains nothing)."""
        if self.untrained:
            return ()
        upstream = self.begins_from.budgets if self.begins_from is not None else ()
        return tuple(dict.fromkeys(upstream + self.own_budgets))

    @property
    def untrained(self) -> bool:
        """An untrained floor: a started method's network as initialised, written without training."""
        return bool(self.spec.starts) and self.spec.starts[self.start].kind == "untrained"

    @property
    def own_budgets(self) -> tuple[str, ...]:
        """The budget curves of this run's own training (none for an untrained floor): a variant's
        generator curve, a start's curve, the method's others."""
        if self.untrained:
            return ()

        def own(curve: str) -> str:
            if curve != self.method:
                return curve
            return self.spec.start_curves[self.start] if self.spec.starts else self.spec.generator_curve(self.variant)

        return tuple(own(curve) for curve in self.spec.budgets)

    @property
    def row(self) -> str:
        """The row key of this run's network in a table (a re-id model has roles in a pair instead:
        the plan's ``direct_transfer``, ``source_source`` and ``target_supervised`` rows)."""
        if self.spec.starts:
            return self.spec.starts[self.start].row
        return self.variant if self.spec.variants else self.method

    @property
    def label(self) -> str:
        """How the tables name this run's method (a re-id model: by the domain it is trained on)."""
        return self.spec.label.format(source=self.source) if self.method == "reid" else label(self.row)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "source": self.source, "target": self.target, "variant": self.variant,
                "start": self.start, "seed": self.seed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        """A run from its record; a record written before runs named their start apart (2026-12-06)
        holds a started run's start in ``variant``."""
        variant, start = data["variant"], data.get("start")
        if "start" not in data and METHODS[data["method"]].starts:
            variant, start = None, data["variant"]
        return cls(data["method"], data["source"], data["target"], variant, data["seed"], start)

    @classmethod
    def from_wildcards(cls, method: str, wildcards: Any) -> Run:
        """The run a rule's wildcards (``{source}``, ``{variant}``, ...) name."""
        get = wildcards.get if isinstance(wildcards, dict) else lambda key: getattr(wildcards, key, None)
        seed, layout = int(get("seed")), METHODS[method].layout
        if layout == "domain":
            return cls(method, get("domain"), None, None, seed)
        if layout == "start":
            start, _, source = get("start").partition("-")
            return cls.started(method, get("target"), start, source or None, seed)
        return cls(method, get("source"), get("target"), get("variant"), seed)

    @classmethod
    def from_path(cls, path: str) -> Run | None:
        """The run a result path belongs to (a run's own files or its evaluation), or None."""
        found = Evaluation.from_path(path)
        if found is not None:
            return found.run
        for method in METHODS.values():
            if m := _regex(method.run_dir).search(str(path)):
                return cls.from_wildcards(method.key, m.groupdict())
        return None


@dataclass(frozen=True)
class Evaluation:
    """A run's network tested on a domain's query/gallery (CMC and mAP, GAP and LMP)."""

    run: Run
    test: str

    @classmethod
    def of(cls, run: Run, test: str | None = None) -> Evaluation:
        """``run`` tested on ``test`` (default: its target; re-id models need ``test``)."""
        return cls(run, test or run.target)

    @property
    def path(self) -> str:
        return self.run.spec.eval_file.format(**self.run.wildcards(), test=self.test)

    def at(self, seed: int) -> Evaluation:
        return Evaluation(self.run.at(seed), self.test)

    @property
    def key(self) -> Evaluation:
        """The evaluation for every seed (what a table row averages over)."""
        return Evaluation(replace(self.run, seed=None), self.test)

    @property
    def label(self) -> str:
        """The method's name in the paper: a re-id model tested on another domain is Direct Transfer."""
        if self.run.method == "reid":
            return label("direct_transfer") if self.test != self.run.source else self.run.label
        return self.run.label

    @classmethod
    def from_path(cls, path: str) -> Evaluation | None:
        for method in METHODS.values():
            if m := _regex(method.eval_file).search(str(path)):
                groups = m.groupdict()
                run = Run.from_wildcards(method.key, groups)
                return cls(run, groups.get("test") or run.target)
        return None


#: Whose images Tables 1 and 4 can measure, by row key: the data itself, and the generators' methods.
QUALITY_METHODS = (*DATA_ROWS, "wo_dual", "crgan", "spgan")


@dataclass(frozen=True)
class Quality:
    """LPIPS, FID and KID of one method's images for a pair (Tables 1 and 4)."""

    method: str
    source: str
    target: str
    seed: int | None = None

    @property
    def path(self) -> str:
        return QUALITY_FILE.format(source=self.source, target=self.target, method=self.method, seed=self.seed)

    @property
    def figure(self) -> str:
        return self.path.removesuffix(".json") + ".png"

    @property
    def label(self) -> str:
        return label(self.method)

    @property
    def generator_run(self) -> Run | None:
        """The run whose generator renders this method's images (None for the data itself)."""
        if self.method in DATA_ROWS:
            return None
        if self.method in VARIANTS:
            return Run.crgan(self.source, self.target, self.method, self.seed)
        return Run.of_pair(self.method, self.source, self.target, self.seed)

    def at(self, seed: int) -> Quality:
        return replace(self, seed=seed)

    @property
    def key(self) -> Quality:
        return replace(self, seed=None)

    @classmethod
    def from_path(cls, path: str) -> Quality | None:
        methods = "|".join(map(re.escape, QUALITY_METHODS))
        m = _regex(QUALITY_FILE, {**WILDCARDS, "method": methods}).search(str(path))
        return cls(m["method"], m["source"], m["target"], int(m["seed"])) if m else None


def seed_of(path: str) -> int | None:
    """The seed a result file belongs to (its run's, evaluation's or quality result's)."""
    found = Quality.from_path(path) or Run.from_path(path)
    return found.seed if found is not None else None


def pair_name(source: str, target: str) -> str:
    """``Market → Duke``: a pair as the report writes it."""
    return f"{DOMAIN_SHORT.get(source, source)} → {DOMAIN_SHORT.get(target, target)}"
