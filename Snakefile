# crgan-repro: CR-GAN (ICCV 2019) end to end. `snakemake --cores all` builds every target of rule all.
# Configuration: config.yaml (default) overlaid by --configfile presets/*.yaml; see README.md.
import sys

from snakemake.utils import min_version, validate

min_version("8.0")


configfile: "config.yaml"


# One clear line for a bad config (key named), before any job runs; then the schema's defaults.
from crgan.config import validate as crgan_validate
from crgan.errors import ConfigError

try:
    crgan_validate(config)
except ConfigError as exc:
    sys.stderr.write(f"crgan: config error: {exc}\n")
    sys.exit(2)
validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/masks.smk"
include: "rules/reid.smk"
include: "rules/crgan.smk"
include: "rules/spgan.smk"
include: "rules/taudl.smk"
include: "rules/quality.smk"
include: "rules/tables.smk"
include: "rules/report.smk"


rule all:
    """The report, which depends on every table, grid and curve of the configured pairs and seeds."""
    input:
        "results/report.html",
    default_target: True
