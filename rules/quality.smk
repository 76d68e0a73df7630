# Image quality (Tables 1 and 4): LPIPS diversity, FID and KID of each method's images per pair.

from crgan.report.tables import QUALITY_METHODS  # method -> the name Tables 1 and 4 give it

QUALITY_GENERATORS = {
    "wo_dual": "results/crgan/{source}-{target}/wo_dual/seed{seed}/G.pt",
    "crgan": "results/crgan/{source}-{target}/crgan/seed{seed}/G.pt",
    "spgan": "results/spgan/{source}-{target}/seed{seed}/G.pt",
}


wildcard_constraints:
    method="|".join(QUALITY_METHODS),


def quality_inputs(wildcards):
    """Indexes, target masks, the substitute feature network (the target's re-id model, used only
    when ImageNet weights are absent) and the method's generator (none for the data itself)."""
    inputs = {
        "source_index": f"results/data/{wildcards.source}.json",
        "target_index": f"results/data/{wildcards.target}.json",
        "target_masks": f"results/masks/{wildcards.target}",
        "substitute": f"results/reid/{wildcards.target}/seed{wildcards.seed}/model.pt",
    }
    if wildcards.method in QUALITY_GENERATORS:
        inputs["generator"] = QUALITY_GENERATORS[wildcards.method].format(**wildcards)
    return inputs


rule quality:
    """LPIPS diversity and FID (Section 4.1) of {method}'s images for {source}->{target}."""
    input:
        unpack(quality_inputs),
    output:
        metrics="results/quality/{source}-{target}/{method}/seed{seed}.json",
        figure=report(
            "results/quality/{source}-{target}/{method}/seed{seed}.png",
            caption="captions/quality.rst",
            category="Image quality",
            subcategory="{source}-{target}",
            labels={"method": "{method}", "seed": "{seed}"},
        ),
    params:
        cfg=cfg("quality", "data", "device"),
        generator=lambda wildcards, input: f"--generator {input.generator}" if "generator" in input.keys() else "",
    threads: THREADS["eval"]
    resources:
        mem_mb=3000,
        gpu=GPUS["eval"],
    conda:
        "../envs/crgan.yaml"
    log:
        "logs/quality/{source}-{target}_{method}_seed{seed}.log",
    benchmark:
        "benchmarks/quality/{source}-{target}_{method}_seed{seed}.tsv"
    shell:
        "crgan quality --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
        "--method {wildcards.method} {params.generator} --source-index {input.source_index} "
        "--target-index {input.target_index} --target-masks {input.target_masks} "
        "--substitute {input.substitute} --out {output.metrics} --figure {output.figure} > {log} 2>&1"
