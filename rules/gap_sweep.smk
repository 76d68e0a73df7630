# The domain-gap sweep (beyond the paper; not part of `all`): `snakemake results/gap_sweep.csv` runs
# this workflow once per point in results/gap_sweep/<point>/: the configured benchmark (`default`) and
# each value of gap_sweep.knobs with the other knobs as configured (`<knob>_<value>`), with its own
# synthetic data and the sweep's pair only, for the evaluations crgan.gap_sweep compares.


rule gap_sweep_point:
    """The workflow at sweep point {point}: Direct Transfer, paste, CR-GAN, Cluster Contrast, target-supervised."""
    output:
        gap_sweep.point_outputs(config),
    log:
        "logs/gap_sweep/{point}.log",
    benchmark:
        "benchmarks/gap_sweep/{point}.tsv"
    wildcard_constraints:
        point=gap_sweep.POINT_WILDCARD,
    conda:
        "../envs/crgan.yaml"
    threads: os.cpu_count() or 1  # Snakemake caps it at --cores; workflow.cores is unset on a cluster
    resources:
        gpu=GPUS["train"],  # the nested run's jobs share the GPUs this job holds
    params:
        folder=gap_sweep.POINT_DIR,
        cfg=lambda wildcards: shlex.quote(json.dumps(gap_sweep.point_config(config, wildcards.point))),
        snakefile=workflow.main_snakefile,
        targets=" ".join(gap_sweep.point_targets(config)),
    shell:
        "mkdir -p {params.folder} && echo {params.cfg} > {params.folder}/config.yaml && "
        # the targets come first: --resources takes every word after it
        "snakemake {params.targets} --snakefile {params.snakefile} --directory {params.folder} --cores {threads} "
        "--resources gpu={resources.gpu} > {log} 2>&1"


rule gap_sweep:
    """results/gap_sweep.csv: rank-1 and mAP of each method at each value of each knob (mean over seeds)."""
    input:
        [path for point in gap_sweep.points(config) for path in gap_sweep.point_outputs(config, point)],
    output:
        "results/gap_sweep.csv",
    log:
        "logs/gap_sweep.log",
    conda:
        "../envs/crgan.yaml"
    params:
        cfg=cfg("gap_sweep", "synthetic"),
    shell:
        "crgan gap-sweep --config-json {params.cfg} --evals {input} --out {output} > {log} 2>&1"
