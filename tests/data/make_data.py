"""Re-create the recorded profiles in this directory by running the real tools on tiny_app.py.

    .venv/bin/python tests/data/make_data.py

The hand-written files (foreign folded text, the evented speedscope file) are not touched.
See README.md for what each file is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = HERE / "tiny_app.py"
BIN = Path(sys.executable).parent
PYSPY = str(BIN / "py-spy")


def run(*args: str) -> None:
    subprocess.run(args, check=True, cwd=HERE, capture_output=True)


def main() -> None:
    python = sys.executable
    run(python, "-m", "cProfile", "-o", "cprofile.pstats", str(APP))
    run(python, "-m", "profile", "-o", "profile-module.pstats", str(APP))
    raw = ("-f", "raw", "--function", "--full-filenames", "--threads")
    pyspy = (PYSPY, "record", "-r", "200")
    run(*pyspy, *raw, "-o", "pyspy-threads.txt", "--", python, str(APP), "--threads")
    run(*pyspy, *raw, "-o", "pyspy-one-thread.txt", "--", python, str(APP))
    speedscope = ("-f", "speedscope", "--threads", "-o", "pyspy.speedscope.json")
    run(*pyspy[:3], "100", *speedscope, "--", python, str(APP), "--threads")
    session = HERE / "pyinstrument-session.json"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import tiny_app\n"
        "from pyinstrument import Profiler\n"
        "from pyinstrument.renderers import JSONRenderer\n"
        "p = Profiler(interval=0.001); p.start(); tiny_app.main(0.1); s = p.stop()\n"
        "s.save(sys.argv[2])\n"
        "open(sys.argv[3], 'w').write(JSONRenderer().render(s))\n"
    )
    run(python, "-c", script, str(HERE), str(session), str(HERE / "pyinstrument-renderer.json"))


if __name__ == "__main__":
    main()
