# Result tables: our numbers beside the paper's (results/tableN.csv).


def table2_evals(wildcards):
    """Direct Transfer (src model on tgt), source->source and target-supervised, per pair and seed."""
    runs = {(s, t) for s, t in PAIRS} | {(d, d) for d in DOMAINS}
    return sorted(
        f"results/eval/reid/{m}/seed{seed}/on_{t}.json" for m, t in runs for seed in SEEDS
    )


rule table2:
    """Table 2 (dual condition ablation); for now the Direct Transfer rows and two reference rows."""
    input:
        table2_evals,
    output:
        "results/table2.csv",
    params:
        cfg=cfg("pairs"),
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/tables/table2.log",
    shell:
        "crgan table --config-json {params.cfg} --table 2 --evals {input} --out {output} > {log} 2>&1"
