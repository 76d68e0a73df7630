# Result tables: our numbers beside the paper's (results/tableN.csv).


def reid_evals(runs):
    """Evaluations of plainly trained models: (model domain, test domain) for every seed."""
    return [f"results/eval/reid/{m}/seed{seed}/on_{t}.json" for m, t in sorted(runs) for seed in SEEDS]


def crgan_evals(variants):
    return [f"results/eval/crgan/{s}-{t}/{v}/seed{seed}.json"
            for s, t in PAIRS for v in variants for seed in SEEDS]


TABLE_INPUTS = {
    # Direct Transfer (source model on target), source->source and target-supervised, w/o dual and CR-GAN
    2: lambda: reid_evals({(s, t) for s, t in PAIRS} | {(d, d) for d in DOMAINS})
    + crgan_evals(["wo_dual", "crgan"]),
    3: lambda: crgan_evals(["wo_id", "wo_cam", "wo_con", "crgan"]),
}


rule table:
    """Table {n}: our values beside the paper's, one row per method, pair and metric."""
    input:
        lambda wildcards: TABLE_INPUTS[int(wildcards.n)](),
    output:
        "results/table{n}.csv",
    wildcard_constraints:
        n="2|3",
    params:
        cfg=cfg("pairs"),
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/tables/table{n}.log",
    shell:
        "crgan table --config-json {params.cfg} --table {wildcards.n} --evals {input} --out {output} > {log} 2>&1"
