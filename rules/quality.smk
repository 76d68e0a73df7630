# Image quality (Tables 1 and 4): LPIPS diversity, FID and KID of each method's images per pair.
# Methods: crgan.runs.QUALITY_METHODS.


rule quality:
    """LPIPS diversity and FID (Section 4.1) of {method}'s images for {source}->{target}."""
    input:
        unpack(quality_inputs),
    output:
        metrics=runs.QUALITY_FILE,
        figure=report(
            runs.QUALITY_FILE.replace(".json", ".png"),
            caption="captions/quality.rst",
            category="Image quality",
            subcategory="{source}-{target}",
            labels={"method": "{method}", "seed": "{seed}"},
        ),
    log:
        "logs/quality/{source}-{target}_{method}_seed{seed}.log",
    benchmark:
        "benchmarks/quality/{source}-{target}_{method}_seed{seed}.tsv"
    wildcard_constraints:
        method="|".join(runs.QUALITY_METHODS),
    conda:
        "../envs/crgan.yaml"
    threads: THREADS["eval"]
    resources:
        mem_mb=3000,
        gpu=GPUS["eval"],
    params:
        cfg=device_cfg("quality", "data"),
        generator=lambda wildcards, input: (f"--generator {input.generator}" if "generator" in input.keys() else ""),
    shell:
        "crgan quality --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--method {wildcards.method} {params.generator} --source-index {input.source_index} "
        "--target-index {input.target_index} --source-masks {input.source_masks} --target-masks {input.target_masks} "
        "--substitute {input.substitute} --out {output.metrics} --figure {output.figure} > {log} 2>&1"
