# Methods that train on a target's unlabelled training set from a start (crgan.methods: a method with
# `starts`), one rule each, generated from the registry: TAUDL (the paper's reference [28]; starts:
# plain backbone, CR-GAN's or SPGAN's fine-tuned network of a pair, the source model as a control, or
# untrained: the floor) and Cluster Contrast (Table 8; starts: the source model, CR-GAN's fine-tuned
# network, untrained). {start} names the start: plain, untrained, or <method>-<source>.


for method in (m for m in METHODS.values() if m.starts):

    rule:
        name:
            f"train_{method.key}"
        input:
            index=index_of("target"),
            init=start_network(method.key),
        output:
            model=NETWORK[method.key],
            curve=training_log(NETWORK[method.key]),
        log:
            f"logs/train_{method.key}/{{target}}_{{start}}_seed{{seed}}.log",
        benchmark:
            f"benchmarks/train_{method.key}/{{target}}_{{start}}_seed{{seed}}.tsv"
        conda:
            "../envs/crgan.yaml"
        threads: THREADS["train"]
        resources:
            mem_mb=4000,
            gpu=ONE_GPU,
        params:
            # a directive's value is taken here; the shell string is formatted when the job runs, after the loop
            command=method.command,
            cfg=device_cfg(*method.sections),
            init=start_option,
        shell:
            "crgan {params.command} --config-json {params.cfg} --threads {threads} --seed {wildcards.seed} "
            "--index {input.index} {params.init} --out {output.model} > {log} 2>&1"
