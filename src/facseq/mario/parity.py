"""Check this install against a numeric reference fixture of FacialMMT (layout of shared/fixtures/mario/).

    python -m facseq.mario.parity DIR [--cases a,b,...] [--atol 1e-4]

Runs our implementation on every case in DIR (a: face preprocessing, b: Swin DFER forward, c: clarity
gate + re-packing, d: multimodal forward (RoBERTa and BERT, every intermediate), e: V-only model, f:
training steps with both optimisers, g: dialogue tokenisation, h: full-size state-dict keys), prints one
line per array `case/array  max_abs_diff  tolerance  PASS|FAIL`, and exits 1 if any line FAILs. Sizes,
lengths and vocabularies are read from DIR (config.json, manifest.json, the case files), never assumed.

Tolerances: 1e-4 absolute for float arrays; integer and boolean arrays (token ids, masks, gate decisions)
exactly; the Swin DFER gradient norm relatively at 5e-4 (the README's float32/float64 spread: the norm over
its 2.4M-element output layer and train-mode BatchNorm over 4-5 faces amplify rounding). Parameter
updates of case f are also compared as update = after - initial at 1e-6, since 1e-4 on the parameters
themselves could not tell the reference's AdamW from torch's.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ATOL = 1e-4
UPDATE_ATOL = 1e-6
SWIN_GRAD_NORM_RTOL = 5e-4


@dataclass
class Line:
    name: str
    diff: float
    tolerance: str
    passed: bool
    note: str = ""

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        note = f"  ({self.note})" if self.note else ""
        return f"{self.name:<72} {self.diff:11.3e}  {self.tolerance:<12} {verdict}{note}"


@dataclass
class Report:
    atol: float = ATOL
    lines: list[Line] = field(default_factory=list)

    def add(self, line: Line) -> None:
        self.lines.append(line)
        print(line, flush=True)

    def fail(self, name: str, note: str) -> None:
        self.add(Line(name, float("nan"), "-", False, note))

    def compare(self, name: str, ours, expected, atol: float | None = None, rtol: float | None = None) -> bool:
        """Max abs difference of two arrays; exact for integer/bool, else atol (or rtol of max |expected|)."""
        ours, expected = np.asarray(_numpy(ours)), np.asarray(expected)
        note = ""
        if ours.shape != expected.shape:
            if ours.size == expected.size:  # the reference's squeeze() quirks (V-only model, length 1)
                note = f"shape {ours.shape} vs reference {expected.shape}"
                ours = ours.reshape(expected.shape)
            elif expected.ndim == 0:
                note = f"reference scalar, ours {ours.shape}"
                expected = np.broadcast_to(expected, ours.shape)
            else:
                self.fail(name, f"shape {ours.shape} vs expected {expected.shape}")
                return False
        exact = expected.dtype.kind in "biu" and ours.dtype.kind in "biu"
        diff = float(np.max(np.abs(ours.astype(np.float64) - expected.astype(np.float64)))) if ours.size else 0.0
        if exact:
            tolerance, limit = "exact", 0.0
        elif rtol is not None:
            limit = rtol * max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1e-12)
            tolerance = f"rel {rtol:g}"
        else:
            limit = self.atol if atol is None else atol
            tolerance = f"{limit:g}"
        passed = bool(np.isfinite(diff) and diff <= limit) or (exact and diff == 0)
        self.add(Line(name, diff, tolerance, passed, note))
        return passed

    @property
    def failures(self) -> list[Line]:
        return [line for line in self.lines if not line.passed]


def _numpy(value):
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return value


def run(fixture_dir: str | Path, cases: str | None = None, atol: float = ATOL, threads: int = 1) -> Report:
    import torch

    from .parity_cases import CASES, Fixture

    # the fixture was computed with one thread; one thread is also much faster than an oversubscribed CPU
    torch.set_num_threads(threads)
    fixture = Fixture(Path(fixture_dir))
    report = Report(atol=atol)
    wanted = [c.strip() for c in cases.split(",")] if cases else list(CASES)
    unknown = [c for c in wanted if c not in CASES]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    for case in wanted:
        try:
            CASES[case](fixture, report)
        except Exception as error:  # one broken case never hides the others
            report.fail(f"{case}/*", f"{type(error).__name__}: {error}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facseq.mario.parity", description=__doc__.split("\n\n")[0])
    parser.add_argument("fixture_dir", help="folder laid out like shared/fixtures/mario/")
    parser.add_argument("--cases", help="comma-separated subset of a,b,c,d,e,f,g,h (default: all)")
    parser.add_argument("--atol", type=float, default=ATOL, help="absolute tolerance for float arrays")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as the fixture)")
    args = parser.parse_args(argv)
    if not (Path(args.fixture_dir) / "config.json").is_file():
        parser.error(f"{args.fixture_dir}: no config.json (not a MARIO fixture folder)")
    report = run(args.fixture_dir, args.cases, args.atol, args.threads)
    failed = report.failures
    print(f"{len(report.lines) - len(failed)} PASS, {len(failed)} FAIL of {len(report.lines)} checks")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
