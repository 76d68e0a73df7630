"""The run catalogue: every trained network, evaluation and image-quality result, named once.

A :class:`Run` is one trained network, identified by its method, domains, CR-GAN variant or
TAUDL start, and seed. It owns its output paths (the Snakemake rules are written with the same
patterns, as ``{wildcard}`` templates), its label, and :meth:`Run.from_path`, which reads a
result path back into a run (the report uses it). An :class:`Evaluation` is a run tested on a
domain; a :class:`Quality` is one method's images measured for a pair (Tables 1 and 4).

Adding a CR-GAN variant is one entry in :data:`VARIANTS`: the rules, the CLI's choices, the
trainer's loss weights and the report's labels all read it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

DOMAINS = ("market1501", "dukemtmc", "cuhk03")
#: How the report names each domain.
DOMAIN_SHORT = {"market1501": "Market", "dukemtmc": "Duke", "cuhk03": "CUHK03"}


@dataclass(frozen=True)
class Variant:
    """A CR-GAN variant: its name in the paper's tables, the losses it switches off, and whether G
    sees the masked target X'T (the dual condition)."""

    label: str
    drops: tuple[str, ...] = ()
    dual: bool = True


#: CR-GAN and its ablations (Tables 1-3), by the name used in paths and on the command line.
VARIANTS = {
    "crgan": Variant("CR-GAN"),
    "wo_dual": Variant("w/o dual condition", dual=False),
    "wo_id": Variant("w/o identity loss", drops=("id",)),
    "wo_cam": Variant("w/o camera loss", drops=("cam",)),
    "wo_con": Variant("w/o context loss", drops=("con",)),
}

#: Controls (Table 2, not in the paper) that tell how much of CR-GAN's gain is learned rendering.
CONTROLS = {"paste": "Paste (control)", "adabn": "AdaBN (control)"}

#: Where TAUDL starts: a plain backbone, or the fine-tuned network of a CR-GAN or SPGAN run.
TAUDL_STARTS = {"plain": "TAUDL", "crgan": "CR-GAN+TAUDL", "spgan": "SPGAN+TAUDL", "untrained": "Untrained (floor)"}
#: Where Cluster Contrast (Table 8, beyond the paper) starts: the source model (UDA), CR-GAN's
#: fine-tuned network (the hybrid), or the plain network as initialised, not trained (the floor).
CLUSTER_STARTS = {"reid": "Cluster Contrast", "crgan": "CR-GAN+Cluster Contrast", "untrained": "Untrained (floor)"}
#: The starts of each method that adapts a network on the unlabelled target.
STARTS = {"taudl": TAUDL_STARTS, "cluster_contrast": CLUSTER_STARTS}

#: Output folder of each method's runs, with Snakemake's wildcards. TAUDL's ``{start}`` is
#: ``plain``, ``crgan-<source>`` or ``spgan-<source>``; Cluster Contrast's ``reid-<source>``,
#: ``crgan-<source>`` or ``untrained``.
RUN_DIRS = {
    "reid": "results/reid/{domain}/seed{seed}",
    "crgan": "results/crgan/{source}-{target}/{variant}/seed{seed}",
    "spgan": "results/spgan/{source}-{target}/seed{seed}",
    "taudl": "results/taudl/{target}/{start}/seed{seed}",
    "paste": "results/paste/{source}-{target}/seed{seed}",
    "adabn": "results/adabn/{source}-{target}/seed{seed}",
    "cluster_contrast": "results/cluster_contrast/{target}/{start}/seed{seed}",
}
#: Evaluation files of each method's runs (re-id models are tested on any ``{test}`` domain).
EVAL_FILES = {
    "reid": "results/eval/reid/{domain}/seed{seed}/on_{test}.json",
    "crgan": "results/eval/crgan/{source}-{target}/{variant}/seed{seed}.json",
    "spgan": "results/eval/spgan/{source}-{target}/seed{seed}.json",
    "taudl": "results/eval/taudl/{target}/{start}/seed{seed}.json",
    "paste": "results/eval/paste/{source}-{target}/seed{seed}.json",
    "adabn": "results/eval/adabn/{source}-{target}/seed{seed}.json",
    "cluster_contrast": "results/eval/cluster_contrast/{target}/{start}/seed{seed}.json",
}
#: The re-id network file inside a run's folder (the one evaluated).
NETWORK_FILES = {"reid": "model.pt", "crgan": "reid.pt", "spgan": "reid.pt", "taudl": "model.pt", "paste": "reid.pt",
                 "adabn": "reid.pt", "cluster_contrast": "model.pt"}
QUALITY_FILE = "results/quality/{source}-{target}/{method}/seed{seed}.json"

_DOMAIN = "|".join(DOMAINS)
#: The values each wildcard may take (the rules' ``wildcard_constraints``).
WILDCARDS = {
    "domain": _DOMAIN, "test": _DOMAIN, "source": _DOMAIN, "target": _DOMAIN, "seed": r"\d+",
    "variant": "|".join(VARIANTS), "start": f"plain|untrained|(?:reid|crgan|spgan)-(?:{_DOMAIN})",
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
    SPGAN's source; a TAUDL run's starting pair's source, None for a plain start); ``target`` the
    unlabelled domain it adapts to (None for re-id); ``variant`` the CR-GAN variant, or the start of
    a TAUDL or Cluster Contrast run (:data:`STARTS`). ``seed`` None stands for every seed (a table row).
    """

    method: str
    source: str | None
    target: str | None = None
    variant: str | None = None
    seed: int | None = None

    @classmethod
    def reid(cls, domain: str, seed: int | None = None) -> Run:
        return cls("reid", domain, None, None, seed)

    @classmethod
    def crgan(cls, source: str, target: str, variant: str = "crgan", seed: int | None = None) -> Run:
        if variant not in VARIANTS:
            raise ValueError(f"unknown CR-GAN variant {variant!r} (expected one of {', '.join(VARIANTS)})")
        return cls("crgan", source, target, variant, seed)

    @classmethod
    def spgan(cls, source: str, target: str, seed: int | None = None) -> Run:
        return cls("spgan", source, target, None, seed)

    @classmethod
    def control(cls, method: str, source: str, target: str, seed: int | None = None) -> Run:
        """A control of Table 2: ``paste`` (the source person pasted on a target image) or ``adabn``
        (the source model with BatchNorm statistics of the target)."""
        if method not in CONTROLS:
            raise ValueError(f"unknown control {method!r} (expected one of {', '.join(CONTROLS)})")
        return cls(method, source, target, None, seed)

    @classmethod
    def taudl(cls, target: str, start: str = "plain", source: str | None = None, seed: int | None = None) -> Run:
        if start not in TAUDL_STARTS or (start in ("plain", "untrained")) != (source is None):
            raise ValueError(f"TAUDL start {start!r} from {source!r}: expected plain or untrained without a "
                             f"source, or crgan/spgan with one")
        return cls("taudl", source, target, start, seed)

    @classmethod
    def cluster_contrast(cls, target: str, start: str = "reid", source: str | None = None,
                         seed: int | None = None) -> Run:
        if start not in CLUSTER_STARTS or (start == "untrained") != (source is None):
            raise ValueError(f"Cluster Contrast start {start!r} from {source!r}: expected untrained without a "
                             f"source, or reid/crgan with one")
        return cls("cluster_contrast", source, target, start, seed)

    def at(self, seed: int) -> Run:
        """This run for one seed."""
        return replace(self, seed=seed)

    @property
    def start_name(self) -> str:
        """A TAUDL or Cluster Contrast run's ``{start}`` folder: ``plain``, ``untrained`` or
        ``<method>-<source>``."""
        return self.variant if self.source is None else f"{self.variant}-{self.source}"

    def wildcards(self) -> dict[str, Any]:
        """The values of this run's path wildcards."""
        if self.method == "reid":
            return {"domain": self.source, "seed": self.seed}
        if self.method in STARTS:
            return {"target": self.target, "start": self.start_name, "seed": self.seed}
        return {"source": self.source, "target": self.target, "variant": self.variant, "seed": self.seed}

    @property
    def directory(self) -> str:
        return RUN_DIRS[self.method].format(**self.wildcards())

    @property
    def network(self) -> str:
        """The re-id network this run ends with (what evaluation and TAUDL starts read)."""
        return f"{self.directory}/{NETWORK_FILES[self.method]}"

    @property
    def generator(self) -> str | None:
        """CR-GAN's or SPGAN's generator file (None for methods without one)."""
        return f"{self.directory}/G.pt" if self.method in ("crgan", "spgan") else None

    @property
    def training_logs(self) -> list[str]:
        """Loss curves (CSV) and the sample grid (PNG) of this run's training steps."""
        logs = [f"{self.network}.log.csv"]
        if self.generator:
            logs += [f"{self.generator}.loss.csv", f"{self.generator}.grid.png"]
        return logs

    @property
    def start_run(self) -> Run | None:
        """The run whose network a TAUDL or Cluster Contrast run starts from (None for a plain or
        untrained start)."""
        if self.method not in STARTS or self.source is None:
            return None
        if self.variant == "crgan":
            return Run.crgan(self.source, self.target, "crgan", self.seed)
        if self.variant == "reid":
            return Run.reid(self.source, self.seed)
        return Run.spgan(self.source, self.target, self.seed)

    @property
    def label(self) -> str:
        """How the paper's tables name this method (re-id models: by what they are trained on)."""
        if self.method == "crgan":
            return VARIANTS[self.variant].label
        if self.method in STARTS:
            return STARTS[self.method][self.variant]
        if self.method in CONTROLS:
            return CONTROLS[self.method]
        return "SPGAN" if self.method == "spgan" else f"re-id on {self.source}"

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "source": self.source, "target": self.target, "variant": self.variant,
                "seed": self.seed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        return cls(data["method"], data["source"], data["target"], data["variant"], data["seed"])

    @classmethod
    def from_wildcards(cls, method: str, wildcards: Any) -> Run:
        """The run a rule's wildcards (``{source}``, ``{variant}``, ...) name."""
        get = wildcards.get if isinstance(wildcards, dict) else lambda key: getattr(wildcards, key, None)
        seed = int(get("seed"))
        if method == "reid":
            return cls.reid(get("domain"), seed)
        if method == "crgan":
            return cls.crgan(get("source"), get("target"), get("variant"), seed)
        if method == "spgan":
            return cls.spgan(get("source"), get("target"), seed)
        if method in CONTROLS:
            return cls.control(method, get("source"), get("target"), seed)
        start, _, source = get("start").partition("-")
        constructor = cls.taudl if method == "taudl" else cls.cluster_contrast
        return constructor(get("target"), start, source or None, seed)

    @classmethod
    def from_path(cls, path: str) -> Run | None:
        """The run a result path belongs to (a run's own files or its evaluation), or None."""
        found = Evaluation.from_path(path)
        if found is not None:
            return found.run
        for method, template in RUN_DIRS.items():
            if m := _regex(template).search(str(path)):
                return cls.from_wildcards(method, m.groupdict())
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
        return EVAL_FILES[self.run.method].format(**self.run.wildcards(), test=self.test)

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
            return "Direct Transfer" if self.test != self.run.source else f"re-id on {self.test}"
        return self.run.label

    @classmethod
    def from_path(cls, path: str) -> Evaluation | None:
        for method, template in EVAL_FILES.items():
            if m := _regex(template).search(str(path)):
                groups = m.groupdict()
                run = Run.from_wildcards(method, groups)
                return cls(run, groups.get("test") or run.target)
        return None


#: Methods whose images Tables 1 and 4 measure: name -> (the paper's name, the generator's run).
QUALITY_METHODS = {
    "source-target": "source-target data",
    "wo_dual": VARIANTS["wo_dual"].label,
    "crgan": VARIANTS["crgan"].label,
    "spgan": "SPGAN",
}


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
        return QUALITY_METHODS[self.method]

    @property
    def generator_run(self) -> Run | None:
        """The run whose generator renders this method's images (None for the data itself)."""
        if self.method == "source-target":
            return None
        if self.method == "spgan":
            return Run.spgan(self.source, self.target, self.seed)
        return Run.crgan(self.source, self.target, self.method, self.seed)

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
