"""``crgan``: one sub-command per workflow step; every Snakemake rule calls one of these."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crgan import config as config_mod
from crgan.budgets import CURVES
from crgan.cli_report import declare_report_commands
from crgan.errors import ConfigError, CrganError
from crgan.io import read_json, write_json

log = logging.getLogger("crgan")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    if args.config_json:
        try:
            return config_mod.validate_sections(json.loads(args.config_json))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--config-json is not valid JSON: {exc}") from None
    # as Snakemake: the workflow's config.yaml (where there is one), overlaid by each --config file
    base = ["config.yaml"] if Path("config.yaml").is_file() or not args.config else []
    return config_mod.load(dict.fromkeys(base + (args.config or [])))


def dataset_root(cfg: dict[str, Any], domain: str, draw: int = 0) -> Path:
    """Where a domain's images live: the generated synthetic folder of a data draw or the configured
    real one (real data has one draw)."""
    if cfg["data"]["source"] == "synthetic":
        from crgan.runs import synthetic_dir

        return Path(synthetic_dir(cfg["data"]["synthetic_root"], domain, draw))
    if domain not in cfg["data"]["roots"]:
        raise ConfigError(f"config key 'data.roots.{domain}' is not set (data.source is 'real')")
    return Path(cfg["data"]["roots"][domain])


def prepared(args: argparse.Namespace, cfg: dict[str, Any], seed: int, data_parallel: bool = False):
    """Set this process up for a command that runs networks (threads, seeds, kernels: ``runtime.setup``)
    and return its device: with ``data_parallel``, its rank's (GPU or CPU) when launched by torchrun.
    torch is imported here, not with the command line, so the table, claims and report commands start
    without it."""
    from crgan import runtime

    runtime.setup(args.threads, seed, cfg["deterministic"])
    if data_parallel:
        from crgan import distributed

        rank_device = distributed.init(cfg["device"])
        if rank_device is not None:
            return rank_device
    return runtime.device(cfg["device"])


def cmd_validate_config(args, cfg):
    from crgan import preflight

    rows = preflight.checks(cfg)
    print(preflight.table(rows))
    fatal = [row.what for row in rows if row.fatal]
    if fatal:
        raise ConfigError(f"the run cannot start: missing {'; '.join(fatal)} (see the table above)")
    print(f"config OK (hash {config_mod.config_hash(cfg)})")


def cmd_synth(args, cfg):
    from crgan.data.synthetic import generate_domain
    from crgan.runs import draw_seed

    if args.domain not in cfg["synthetic"]["domains"]:
        raise ConfigError(f"config key 'synthetic.domains.{args.domain}' is not set")
    seed = draw_seed(cfg["synthetic"]["seed"], args.draw)  # a seed bundle's own draw of the benchmark
    prepared(args, cfg, seed)
    meta = generate_domain(args.domain, Path(args.out), cfg["synthetic"], seed=seed)
    log.info("wrote %s: %s", args.out, meta["counts"])


def cmd_index(args, cfg):
    from crgan.data.datasets import load_dataset, rehearsal_subset

    index = load_dataset(args.domain, dataset_root(cfg, args.domain, args.draw), cfg["data"]["check_counts"])
    if cfg["data"]["rehearsal_identities"]:
        index = rehearsal_subset(index, cfg["data"]["rehearsal_identities"])
    write_json(args.out, index)
    log.info("%s: %s", args.domain, {k: len(v) for k, v in index["splits"].items()})


def cmd_masks(args, cfg):
    from crgan.masks import make_masks

    device = prepared(args, cfg, 0)
    summary = make_masks(read_json(args.index), cfg, Path(args.out), device, args.draw)
    log.info("masks: %s", summary)


def cmd_train_reid(args, cfg):
    from crgan.train.reid import train_reid

    device = prepared(args, cfg, args.seed, data_parallel=True)
    info = train_reid(read_json(args.index), cfg, args.seed, Path(args.out), device)
    log.info("trained %s (init %s): final loss %.4f, train acc %.3f", args.out, info.init, info.final["loss"],
             info.final["train_acc"])


def cmd_train_crgan(args, cfg):
    from crgan.models.store import load_network
    from crgan.train.crgan import train_generator

    device = prepared(args, cfg, args.seed, data_parallel=True)
    did, _ = load_network(args.did, device)
    info = train_generator(read_json(args.source_index), read_json(args.target_index),
                           (Path(args.source_masks), Path(args.target_masks)), did, cfg, args.variant, args.seed,
                           Path(args.out), device)
    log.info("trained G (%s): final losses %s; Dcam train accuracy %.3f", args.variant, info.final,
             info.details["dcam_train_acc"])


def cmd_finetune(args, cfg):
    from crgan.models.store import load_network
    from crgan.train.finetune import finetune_on_rendered

    device = prepared(args, cfg, args.seed)
    did, did_info = load_network(args.did, device)
    info = finetune_on_rendered(did, did_info, Path(args.generator), read_json(args.source_index),
                                read_json(args.target_index), (Path(args.source_masks), Path(args.target_masks)),
                                cfg, args.seed, Path(args.out), device)
    log.info("fine-tuned %s on %s renderings: final loss %.4f", args.out, info.run.variant, info.final["loss"])


def cmd_finetune_paste(args, cfg):
    from crgan.models.store import load_network
    from crgan.train.finetune import finetune_on_pasted

    device = prepared(args, cfg, args.seed)
    did, did_info = load_network(args.did, device)
    info = finetune_on_pasted(did, did_info, read_json(args.source_index), read_json(args.target_index),
                              (Path(args.source_masks), Path(args.target_masks)), cfg, args.seed, Path(args.out), device)
    log.info("fine-tuned %s on pasted composites: final loss %.4f", args.out, info.final["loss"])


def cmd_adapt_bn(args, cfg):
    from crgan.models.store import load_network
    from crgan.train.adabn import adapt_batch_norm

    device = prepared(args, cfg, args.seed)
    did, did_info = load_network(args.did, device)
    info = adapt_batch_norm(did, did_info, read_json(args.target_index), cfg, args.seed, Path(args.out), device)
    log.info("re-estimated %d BatchNorm layers on %d target images: %s", info.details["batch_norm_layers"],
             info.final["images"], args.out)


def cmd_train_spgan(args, cfg):
    from crgan.train.spgan import train_spgan

    device = prepared(args, cfg, args.seed, data_parallel=True)
    info = train_spgan(read_json(args.source_index), read_json(args.target_index), cfg, args.seed, Path(args.out),
                       device)
    log.info("trained SPGAN %s->%s: final losses %s", info.run.source, info.run.target, info.final)


def cmd_translate(args, cfg):
    from crgan.train.spgan import translate_split

    device = prepared(args, cfg, args.seed)
    index = translate_split(Path(args.generator), read_json(args.source_index), cfg, Path(args.out),
                            device)
    log.info("translated %d %s training images into %s", len(index["splits"]["train"]), index["domain"], args.out)


def cmd_finetune_translated(args, cfg):
    from crgan.models.store import load_network
    from crgan.train.finetune import finetune_on_translated

    device = prepared(args, cfg, args.seed)
    did, did_info = load_network(args.did, device)
    info = finetune_on_translated(did, did_info, read_json(Path(args.translated) / "index.json"), cfg, args.seed,
                                  Path(args.out), device)
    log.info("fine-tuned %s on SPGAN translations: final loss %.4f", args.out, info.final["loss"])


def cmd_train_started(args, cfg):
    """Any started method of the registry (TAUDL, Cluster Contrast): its trainer from a start."""
    from crgan.methods import METHODS

    method = METHODS[args.method]
    train = method.train_function()
    device = prepared(args, cfg, args.seed)
    info = train(read_json(args.index), cfg, args.seed, Path(args.out), device,
                 Path(args.init) if args.init else None, untrained=args.untrained)
    log.info("%s (%s, init %s) on %s: %s, final %s", method.label, info.run.start_name, info.init, info.domain,
             info.details, info.final or "none (untrained)")


def cmd_eval_reid(args, cfg):
    from crgan.eval.reid import evaluate_file

    device = prepared(args, cfg, 0)
    record = evaluate_file(args.model, read_json(args.index), cfg, args.seed, device, args.split)
    write_json(args.out, record.to_dict())
    gap, lmp = record.metrics["gap"], record.metrics["lmp"]
    log.info("%s on %s (%s split): rank1 %.1f mAP %.1f (LMP rank1 %.1f mAP %.1f)", record.evaluation.label,
             record.evaluation.test, args.split, gap["rank1"], gap["map"], lmp["rank1"], lmp["map"])


def cmd_quality(args, cfg):
    from crgan.eval.quality_step import measure_method

    device = prepared(args, cfg, args.seed)
    record = measure_method(args.method, read_json(args.source_index), read_json(args.target_index),
                            (args.source_masks, args.target_masks), Path(args.generator) if args.generator else None,
                            Path(args.substitute), cfg, args.seed, Path(args.figure), device)
    write_json(args.out, record.to_dict())
    log.info("%s %s->%s: %s", args.method, record.source, record.target,
             ", ".join(f"{k} {v:.4f}" for k, v in record.metrics.items()))


def cmd_visrank(args, cfg):
    from crgan.eval.ranked_lists import draw_lists
    from crgan.eval.reid import evaluate_file

    device = prepared(args, cfg, 0)
    index = read_json(args.index)
    record = evaluate_file(args.model, index, cfg, args.seed, device)
    ranked, out = record.metrics["ranked"], Path(args.out)
    png = draw_lists(index, ranked["lists"], out / f"{index['domain']}_ranked.png")
    write_json(out / f"{index['domain']}_ranked.json", ranked)
    log.info("%s on %s (rank1 %.1f mAP %.1f): ranked lists of %d queries in %s", record.evaluation.label,
             index["domain"], record.metrics["gap"]["rank1"], record.metrics["gap"]["map"], len(ranked["lists"]), png)


def cmd_budget_point(args, cfg):
    from crgan.budget_curves import run_point

    device = prepared(args, cfg, args.seed)
    result = run_point(args.curve, args.budget, cfg, args.seed, (read_json(args.source_index), read_json(args.target_index)),
                       (Path(args.source_masks), Path(args.target_masks)), Path(args.out), device,
                       Path(args.did) if args.did else None, Path(args.generator) if args.generator else None,
                       args.precision, Path(args.start) if args.start else None)
    log.info("%s at %d, %s->%s seed %d: validation rank1 %.1f mAP %.1f", args.curve, args.budget, result["source"],
             result["target"], args.seed, result["rank1"], result["map"])


def cmd_budget_curves(args, cfg):
    from crgan.budget_curves import write_curves

    rows, advice = write_curves(args.points, cfg, args.out, args.plateaus, args.overlay)
    log.info("wrote %s: %d rows; budgets by the plateau rule %s", args.out, len(rows),
             {r["curve"]: r["method_budget"] for r in rows})
    for line in advice:
        log.warning("%s", line)


def cmd_precision_check(args, cfg):
    from crgan.precision_check import write_check

    rows = write_check(args.points, args.out)
    log.info("wrote %s: %s", args.out, "; ".join(f"{r['curve']} {r['difference']} ({r['choice']})" for r in rows))


def cmd_calibration(args, cfg):
    from crgan.calibration import write_calibration

    rows = write_calibration(args.points, cfg["reid"]["epochs"], args.out)
    log.info("wrote %s: %s", args.out, "; ".join(f"{r['anchor']} {r['subject']} {r['mean']} ({r['within_target'] or '-'})"
                                                  for r in rows))


def add_start_options(parser: argparse.ArgumentParser, method: str) -> None:
    """Where a run of ``method`` (one that adapts on the unlabelled target) starts, as the registry
    declares its starts: one spelling for every such method."""
    from crgan.methods import METHODS

    starts = METHODS[method].starts
    plain = " (default: the plain backbone)" if "plain" in starts else ""
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--init", metavar="FILE", help=f"start from the network of a "
                                                      f"{' or '.join(METHODS[method].network_starts)} run{plain}")
    start.add_argument("--untrained", action="store_true",
                       help="write the network as initialised, without training (the floor)")


Adder = Callable[..., argparse.ArgumentParser]
GAN_INPUTS = dict(source_index="source index JSON", target_index="target index JSON",
                  source_masks="source masks folder", target_masks="target masks folder")


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per workflow step, declared by step kind below."""
    parser = argparse.ArgumentParser(prog="crgan", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", action="append", metavar="FILE",
                        help="YAML config overlaid on ./config.yaml, as Snakemake's --configfile; repeatable")
    common.add_argument("--config-json", metavar="JSON", help="the whole config as JSON (used by the workflow)")
    common.add_argument("--threads", type=int, default=1, help="torch threads for this step")
    common.add_argument("--seed", type=int, default=0)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_: str, **outputs: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_)
        p.set_defaults(func=func)
        for opt, h in outputs.items():
            p.add_argument(f"--{opt.replace('_', '-')}", required=True, help=h)
        return p

    for declare in (declare_data_commands, declare_training_commands, declare_evaluation_commands,
                    declare_budget_commands, declare_report_commands):
        declare(add)
    return parser


def declare_data_commands(add: Adder) -> None:
    """Configuration check, synthetic data, dataset index and masks."""
    add("validate-config", cmd_validate_config, "check a configuration and print its hash")
    draw_help = "the seed bundle's data draw (synthetic: the benchmark at synthetic.seed + draw, mask errors too)"
    p = add("synth", cmd_synth, "generate one synthetic domain", domain="market1501 | dukemtmc | cuhk03",
            out="output folder")
    p.add_argument("--draw", type=int, default=0, help=draw_help)
    p = add("index", cmd_index, "parse and check a dataset, write its index", domain="dataset name", out="index JSON")
    p.add_argument("--draw", type=int, default=0, help=draw_help)
    p = add("masks", cmd_masks, "person masks for every image", index="index JSON", out="output folder")
    p.add_argument("--draw", type=int, default=0, help=draw_help)


def declare_training_commands(add: Adder) -> None:
    """One command per trained method of the registry, and the steps between (fine-tuning, translation)."""
    from crgan.methods import METHODS, VARIANTS

    add(METHODS["reid"].command, cmd_train_reid, "train a re-id model on a domain's labels", index="index JSON",
        out="model file")
    p = add(METHODS["crgan"].command, cmd_train_crgan, "train CR-GAN's generator (Algorithm 1, parts I-II)",
            did="source re-id model (Did)", out="generator file", **GAN_INPUTS)
    p.add_argument("--variant", required=True, choices=list(VARIANTS))
    add("finetune", cmd_finetune, "fine-tune Did on on-the-fly renderings (Algorithm 1, part III)",
        generator="generator file", did="source re-id model", out="fine-tuned model file", **GAN_INPUTS)
    add(METHODS["paste"].command, cmd_finetune_paste,
        "the paste control: fine-tune Did on source persons pasted on target images",
        did="source re-id model", out="fine-tuned model file", **GAN_INPUTS)
    add(METHODS["adabn"].command, cmd_adapt_bn, "the AdaBN controls: the source model (or CR-GAN's fine-tuned network) "
        "with target BatchNorm statistics",
        did="the network to re-normalise (a source re-id model or CR-GAN's fine-tuned network)",
        target_index="target index JSON", out="adapted model file")
    add(METHODS["spgan"].command, cmd_train_spgan, "train SPGAN (CycleGAN + SiaNet) for a source -> target pair",
        source_index="source index JSON", target_index="target index JSON", out="generator file")
    add("translate", cmd_translate, "translate the source training set with SPGAN's generator, once",
        generator="SPGAN generator file", source_index="source index JSON", out="output folder")
    add("finetune-translated", cmd_finetune_translated, "fine-tune the source model on translated images",
        translated="folder written by translate", did="source re-id model", out="fine-tuned model file")
    for method in (m for m in METHODS.values() if m.starts):
        p = add(method.command, cmd_train_started, method.summary, index="target index JSON", out="model file")
        p.set_defaults(method=method.key)
        add_start_options(p, method.key)


def declare_evaluation_commands(add: Adder) -> None:
    """Re-id evaluation, image quality and ranked lists."""
    from crgan.runs import QUALITY_METHODS

    p = add("eval-reid", cmd_eval_reid, "CMC/mAP of a model on a domain's test (or validation) set", model="model file",
            index="index JSON", out="metrics JSON")
    p.add_argument("--split", choices=["test", "validation"], default="test",
                   help="test: the record tables read (default); validation: for budget curves only")
    p = add("quality", cmd_quality, "LPIPS, FID and KID of one method's images (Tables 1 and 4)",
            source_index="source index JSON", target_index="target index JSON",
            source_masks="source masks folder (LPIPS by region)", target_masks="target masks folder",
            substitute="re-id model used when ImageNet weights are absent",
            out="metrics JSON", figure="PNG: source images and their renderings")
    p.add_argument("--method", required=True, choices=list(QUALITY_METHODS))
    p.add_argument("--generator", help="the method's generator file (not for source-target)")
    add("visrank", cmd_visrank, "ranked lists of a model's seeded queries (as torchreid's visrank)",
        model="model file", index="index JSON of the test domain", out="output folder (PNG and JSON)")


def declare_budget_commands(add: Adder) -> None:
    """Budget points, their curves and the world's calibration."""
    p = add("budget-point", cmd_budget_point, "one point of a budget curve: a method's chain at one budget, tested on "
            "the target's validation split", out="validation JSON", **GAN_INPUTS)
    p.add_argument("--curve", required=True, choices=list(CURVES))
    p.add_argument("--budget", required=True, type=int, help="epochs or iterations, as the curve's config key")
    p.add_argument("--did", help="the main run's source model (every curve but re-id's)")
    p.add_argument("--generator", help="the main run's CR-GAN generator (the fine-tuning curve)")
    p.add_argument("--start", help="the main run's network a started curve begins from (CR-GAN's for CR-GAN+TAUDL)")
    p.add_argument("--precision", choices=("float32", "bfloat16"),
                   help="the curve's own trainer in this precision (the precision check); default: as configured")
    p = add("budget-curves", cmd_budget_curves, "gather budget points into the curves CSV and apply the plateau rule",
            out="CSV file")
    p.add_argument("--points", nargs="+", required=True, help="the points' validation JSON files")
    p.add_argument("--plateaus", help="also write the measured plateaus here (results/plateaus.json, read by the main run)")
    p.add_argument("--overlay", help="also write the config overlay that trains every measured budget at its plateau "
                   "(results/plateau_budgets.yaml)")
    p = add("precision-check", cmd_precision_check, "gather the precision check's points: each trainer's validation "
            "rank-1 in float32 and bfloat16, the paired difference and the precision it is cleared for", out="CSV file")
    p.add_argument("--points", nargs="+", required=True, help="the check points' validation JSON files")
    p = add("calibration", cmd_calibration, "gather the re-id points at reid.epochs into the world's calibration CSV",
            out="CSV file")
    p.add_argument("--points", nargs="+", required=True, help="the re-id budget points' validation JSON files")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    args = build_parser().parse_args(argv)
    from crgan import distributed

    try:
        cfg = _config(args)
        args.func(args, cfg)
    except CrganError as exc:
        distributed.shutdown(wait=False)
        print(f"crgan: error: {exc}", file=sys.stderr)
        return 2
    distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
