# Result tables: our numbers beside the paper's (results/tableN.csv).


def reid_evals(runs):
    """Evaluations of plainly trained models: (model domain, test domain) for every seed."""
    return [f"results/eval/reid/{m}/seed{seed}/on_{t}.json" for m, t in sorted(runs) for seed in SEEDS]


def crgan_evals(variants, pairs=PAIRS):
    return [f"results/eval/crgan/{s}-{t}/{v}/seed{seed}.json" for s, t in pairs for v in variants for seed in SEEDS]


def spgan_evals(pairs):
    return [f"results/eval/spgan/{s}-{t}/seed{seed}.json" for s, t in pairs for seed in SEEDS]


def taudl_evals(runs):
    """TAUDL evaluations: (target, start) for every seed."""
    return [f"results/eval/taudl/{t}/{start}/seed{seed}.json" for t, start in sorted(runs) for seed in SEEDS]


def quality_results(methods):
    """Image-quality results (Tables 1 and 4) of ``methods`` for every pair and seed."""
    return [f"results/quality/{s}-{t}/{m}/seed{seed}.json" for s, t in PAIRS for m in methods for seed in SEEDS]


TABLE_INPUTS = {
    1: lambda: quality_results(["source-target", "wo_dual", "crgan"]),
    # Direct Transfer (source model on target), source->source and target-supervised, w/o dual and CR-GAN
    2: lambda: reid_evals({(s, t) for s, t in PAIRS} | {(d, d) for s, t in PAIRS for d in (s, t)})
    + crgan_evals(["wo_dual", "crgan"]),
    3: lambda: crgan_evals(["wo_id", "wo_cam", "wo_con", "crgan"]),
    4: lambda: quality_results(["source-target", "spgan", "crgan"]),
    5: lambda: spgan_evals(PAIRS) + crgan_evals(["crgan"]),
    6: lambda: spgan_evals(PAIRS) + crgan_evals(["crgan"])
    + taudl_evals({(t, start) for s, t in PAIRS for start in ("plain", f"crgan-{s}", f"spgan-{s}")}),
    7: lambda: spgan_evals(CUHK03_PAIRS) + crgan_evals(["crgan"], CUHK03_PAIRS)
    + taudl_evals({(t, start) for s, t in CUHK03_PAIRS for start in ("plain", f"crgan-{s}")}),
}


rule table:
    """Table {n}: our values beside the paper's, one row per method, pair and metric."""
    input:
        lambda wildcards: TABLE_INPUTS[int(wildcards.n)](),
    output:
        table=report("results/table{n}.csv", caption="captions/table.rst", category="Tables"),
        provenance="results/table{n}.csv.provenance.json",
    wildcard_constraints:
        n="|".join(map(str, TABLE_INPUTS)),
    params:
        cfg=cfg("pairs", "cuhk03_pairs"),
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/tables/table{n}.log",
    shell:
        "crgan table --config-json {params.cfg} --table {wildcards.n} --evals {input} --out {output.table} > {log} 2>&1"
