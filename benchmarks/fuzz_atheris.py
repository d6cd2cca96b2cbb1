"""Coverage-guided fuzzing of the decoders and the session with atheris (libFuzzer).

``python -m benchmarks.fuzz_atheris RUNS``; :mod:`benchmarks.fuzz` runs it when atheris is
installed. The fixture frames seed the corpus.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["axorders"]):
    from benchmarks import fuzz


def main(runs: int) -> None:
    state = {"session": fuzz._session(), "inputs": 0}
    fuzz._seed_orders(state["session"], fuzz.T0, 0)
    counts = dict.fromkeys(
        ("known", "unknown", "malformed", "decoder-error", "unexpected", "uncounted"), 0
    )

    def one_input(data: bytes) -> None:
        state["inputs"] += 1
        if state["inputs"] % 2000 == 0:  # a fresh session now and then keeps runs fast
            problems = fuzz.check_maps(state["session"])
            if problems:
                raise RuntimeError(f"session id maps: {problems[:3]}")
            state["session"] = fuzz._session()
            fuzz._seed_orders(state["session"], fuzz.T0, 0)
        fuzz._feed(state["session"], data, fuzz.T0, counts)
        if counts["unexpected"] or counts["uncounted"]:
            raise RuntimeError(f"session fuzz failure: {counts}")

    with tempfile.TemporaryDirectory(prefix="axorders-corpus-") as corpus:
        for number, frame in enumerate(fuzz.load_seeds()):
            Path(corpus, f"seed-{number}").write_bytes(frame)
        atheris.Setup([sys.argv[0], f"-runs={runs}", "-max_len=4096", corpus], one_input)
        atheris.Fuzz()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
