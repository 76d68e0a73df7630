# The precision check (issue 31; not part of `all`): `snakemake results/precision_check.csv` runs each
# curve of precision_check.curves at its configured budget with its own trainer in float32 and in
# bfloat16, both pairs, each bundle of precision_check.seeds, tested on the target's validation split;
# crgan.precision_check states the rule that clears a trainer for bfloat16 on a CPU.


rule precision_point:
    """One point of the check: curve {curve} at its configured budget, its trainer in {precision}, {source}->{target}, seed {seed}."""
    input:
        unpack(budget_point_inputs),
    output:
        precision_check.CHECK_FILE,
    log:
        "logs/precision_point/{precision}_{curve}_{source}-{target}_seed{seed}.log",
    benchmark:
        "benchmarks/precision_point/{precision}_{curve}_{source}-{target}_seed{seed}.tsv"
    wildcard_constraints:
        curve="|".join(budgets.CURVES),
        precision="|".join(precision_check.PRECISIONS),
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=ONE_GPU,
    params:
        cfg=lambda wildcards: device_cfg(*budgets.CURVES[wildcards.curve].sections),
        budget=lambda wildcards: configured_budget(wildcards.curve),
        starts=budget_point_options,
    shell:
        "crgan budget-point --config-json {params.cfg} --threads {threads} --curve {wildcards.curve} "
        "--budget {params.budget} --precision {wildcards.precision} --seed {wildcards.seed} "
        "--source-index {input.source_index} --target-index {input.target_index} "
        "--source-masks {input.source_masks} --target-masks {input.target_masks} {params.starts} "
        "--out {output} > {log} 2>&1"


rule precision_check:
    """results/precision_check.csv: per checked trainer, validation rank-1 in both precisions, the paired
    difference with its interval, the trainer's seconds in each, and the precision it is cleared for."""
    input:
        precision_check.points(config),
    output:
        "results/precision_check.csv",
    log:
        "logs/precision_check.log",
    conda:
        "../envs/crgan.yaml"
    shell:
        "crgan precision-check --points {input} --out {output} > {log} 2>&1"
