# Result tables: our numbers beside the paper's (results/tableN.csv). Which results each table is
# built from: crgan.plan. The paper's claims judged from them: results/claims.csv.


rule table:
    """Table {n}: our values beside the paper's, one row per method, pair and metric."""
    input:
        lambda wildcards: plan.table_inputs(int(wildcards.n), config),
    output:
        table=report(plan.TABLE_FILE, caption="captions/table.rst", category="Tables"),
        provenance=f"{plan.TABLE_FILE}.provenance.json",
    log:
        "logs/tables/table{n}.log",
    wildcard_constraints:
        n="|".join(map(str, plan.TABLES)),
    conda:
        "../envs/crgan.yaml"
    params:
        cfg=cfg("pairs", "cuhk03_pairs", "data"),
        budgets=BUDGET_STATUS,
    shell:
        "crgan table --config-json {params.cfg} --table {wildcards.n} --evals {input} --budgets-json {params.budgets} "
        "--out {output.table} > {log} 2>&1"


rule claims:
    """results/claims.csv: each of the paper's qualitative claims judged from our per-seed results, then
    re-scored by other code against the tables (crgan.report.rescore; a disagreement fails the job)."""
    input:
        tables=expand(plan.TABLE_FILE, n=sorted(plan.TABLES)),
        records=lambda wildcards: all_table_inputs(),
    output:
        report(plan.CLAIMS_FILE, caption="captions/claims.rst", category="Tables"),
    log:
        "logs/claims.log",
    conda:
        "../envs/crgan.yaml"
    params:
        cfg=cfg("pairs", "cuhk03_pairs", "seeds", "data"),
        budgets=BUDGET_STATUS,
    shell:
        "crgan claims --config-json {params.cfg} --evals {input.records} --budgets-json {params.budgets} "
        "--tables {input.tables} --out {output} > {log} 2>&1"


rule power_table:
    """results/power.csv (not part of `all`): from a multi-bundle run's claims, the smallest effect each
    tested row decides 80 % of the time with 5 and 10 bundles, alone and under its family's Holm."""
    input:
        plan.CLAIMS_FILE,
    output:
        "results/power.csv",
    log:
        "logs/power_table.log",
    conda:
        "../envs/crgan.yaml"
    shell:
        "crgan power-table --claims {input} --out {output} > {log} 2>&1"
