# Budget curves (issue 24; not part of `all`): `snakemake results/budget_curves.csv` trains each
# method at each budget of budget_curves.budgets (a full schedule at that budget) on both pairs and
# tests it on the target's validation split; the plateau rule (crgan.budgets) chooses the budgets.
# The calibration (issue 32; not part of `all` unless calibration.in_report) reads the re-id points at
# reid.epochs on the calibration seeds.


rule budget_point:
    """One point: curve {curve} at budget {budget} for {source}->{target}, seed {seed}, on the validation split."""
    input:
        unpack(budget_point_inputs),
    output:
        budgets.POINT_FILE,
    log:
        "logs/budget_point/{curve}_{source}-{target}_{budget}_seed{seed}.log",
    benchmark:
        "benchmarks/budget_point/{curve}_{source}-{target}_{budget}_seed{seed}.tsv"
    wildcard_constraints:
        curve="|".join(budgets.CURVES),
        budget=r"\d+",
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["train"]
    resources:
        mem_mb=4000,
        gpu=ONE_GPU,
    params:
        cfg=lambda wildcards: device_cfg(*budgets.CURVES[wildcards.curve].sections),
        starts=budget_point_options,
    shell:
        "crgan budget-point --config-json {params.cfg} --threads {threads} --curve {wildcards.curve} "
        "--budget {wildcards.budget} --seed {wildcards.seed} --source-index {input.source_index} "
        "--target-index {input.target_index} --source-masks {input.source_masks} "
        "--target-masks {input.target_masks} {params.starts} --out {output} > {log} 2>&1"


rule budget_curves:
    """results/budget_curves.csv: validation rank-1 and mAP per curve, pair and budget, with the plateau budgets."""
    input:
        budget_curves.points(config),
    output:
        curves="results/budget_curves.csv",
        plateaus=budgets.PLATEAU_FILE,
        overlay=budgets.PLATEAU_OVERLAY,
    log:
        "logs/budget_curves.log",
    conda:
        "../envs/crgan.yaml"
    params:
        cfg=cfg("reid", "crgan", "finetune", "spgan", "taudl", "cluster_contrast", "budget_curves"),
    shell:
        "crgan budget-curves --config-json {params.cfg} --points {input} --out {output.curves} "
        "--plateaus {output.plateaus} --overlay {output.overlay} > {log} 2>&1"


rule budget_curve:
    """results/budget_curves/{curve}.csv: one curve alone (the re-id curve for the calibration, for example)."""
    input:
        lambda wildcards: budget_curves.points(config, wildcards.curve),
    output:
        "results/budget_curves/{curve}.csv",
    log:
        "logs/budget_curve/{curve}.log",
    wildcard_constraints:
        curve="|".join(budgets.CURVES),
    conda:
        "../envs/crgan.yaml"
    params:
        cfg=cfg("reid", "crgan", "finetune", "spgan", "taudl", "cluster_contrast", "budget_curves"),
    shell:
        "crgan budget-curves --config-json {params.cfg} --points {input} --out {output} > {log} 2>&1"


rule calibration:
    """results/calibration.csv: the world's method-free anchors (in-domain rank-1, Direct Transfer over it) on
    the validation splits of the calibration seeds, beside the real datasets'."""
    input:
        calibration_points(config),
    output:
        "results/calibration.csv",
    log:
        "logs/calibration.log",
    conda:
        "../envs/crgan.yaml"
    params:
        cfg=cfg("reid"),
    shell:
        "crgan calibration --config-json {params.cfg} --points {input} --out {output} > {log} 2>&1"
