# The HTML report (results/report.html): every table beside the paper's, samples, curves, run times.


rule report:
    """results/report.html: what ran, every table of the plan beside the paper's, samples, curves, run times."""
    input:
        unpack(report_inputs),
    output:
        report("results/report.html", caption="captions/report.rst", category="Report"),
    log:
        "logs/report.log",
    conda:
        "../envs/crgan.yaml"
    params:
        cfg=cfg(*config),
        configfiles=" ".join(shlex.quote(str(f)) for f in workflow.configfiles),
        gap_sweep=lambda wildcards, input: f"--gap-sweep {input.gap_sweep}" if input.gap_sweep else "",
        budget_curves=lambda wildcards, input: (f"--budget-curves {input.budget_curves}" if input.budget_curves else ""),
        calibration=lambda wildcards, input: f"--calibration {input.calibration}" if input.calibration else "",
    shell:
        "crgan report --config-json {params.cfg} --configfiles {params.configfiles} --tables {input.tables} "
        "--figures {input.figures} --curves {input.curves} --evals {input.evals} --claims {input.claims} --indexes {input.indexes} {params.gap_sweep} {params.budget_curves} {params.calibration} --benchmarks benchmarks "
        "--out {output} > {log} 2>&1"
