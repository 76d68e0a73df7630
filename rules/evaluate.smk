# Evaluation: CMC/mAP (GAP and LMP features) of a network on a domain's query/gallery. eval_reid tests a
# re-id model on any domain; every other method of the registry (crgan.methods) gets one rule,
# eval_<method>, that tests its runs' network on their target, with the paths the registry declares.


rule eval_reid:
    """CMC/mAP (GAP and LMP features) of the {domain} model on {test}'s query/gallery."""
    input:
        model=METHODS["reid"].network,
        index=index_of("test"),
    output:
        METHODS["reid"].eval_file,
    log:
        "logs/eval_reid/{domain}_seed{seed}_on_{test}.log",
    benchmark:
        "benchmarks/eval_reid/{domain}_seed{seed}_on_{test}.tsv"
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["eval"]
    resources:
        gpu=GPUS["eval"],
    params:
        cfg=device_cfg("eval", "data"),
    shell:
        "crgan eval-reid --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--model {input.model} --index {input.index} --out {output} > {log} 2>&1"


for method in (m for m in METHODS if m != "reid"):

    rule:
        name:
            f"eval_{method}"
        input:
            model=METHODS[method].network,
            index=index_of("target"),
        output:
            METHODS[method].eval_file,
        log:
            evaluation_log(method, "logs") + ".log",
        benchmark:
            evaluation_log(method, "benchmarks") + ".tsv"
        conda:
            "../envs/crgan.yaml"
        threads: THREADS["eval"]
        resources:
            gpu=GPUS["eval"],
        params:
            cfg=device_cfg("eval", "data"),
        shell:
            "crgan eval-reid --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
            "--model {input.model} --index {input.index} --out {output} > {log} 2>&1"
