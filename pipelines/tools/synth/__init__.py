"""A synthetic clinic network that writes the three monthly exports, optionally with defects.

    from pipelines.tools.synth import SCALES, generate
    summary = generate(Path("landing"), SCALES["small"])

Layout: `config` (SynthConfig, SCALES, clinical rates), `ids` (pseudonymous ids),
`network` (sites, patients, courses, session days), `sessions` (session rows and their
adverse events), `vitals`, `questionnaires`, `defects` (injection and log), `writer`
(deterministic CSV/gzip/parquet bytes) and `generate` (the month-by-month driver).
"""

from pipelines.tools.synth.config import SCALES, SynthConfig
from pipelines.tools.synth.generate import SynthSummary, generate

__all__ = ["SCALES", "SynthConfig", "SynthSummary", "generate"]
