"""Write a large, real pstats file: cProfile around importing a big import graph.

    python benchmarks/_import_graph.py OUT.pstats [--functions 6500]

Imports a fixed, ordered list of packages (the project's own dependencies and the standard
library) in this fresh interpreter, profiling only the imports, and stops after the first one
that takes the profile past `--functions` entries. Import machinery gives the deep, recursive,
many-caller graph that rebuilding stacks from pstats has to cope with. Prints a JSON line with
the modules imported and the entry count.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import sys
import warnings

MODULES = (
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.sqlite",
    "starlette.applications",
    "starlette.routing",
    "httpx",
    "jinja2",
    "rich.console",
    "rich.table",
    "rich.markdown",
    "rich.syntax",
    "rich.progress",
    "email.mime.multipart",
    "email.parser",
    "asyncio",
    "xml.dom.minidom",
    "xml.etree.ElementTree",
    "xml.sax",
    "unittest",
    "unittest.mock",
    "http.server",
    "http.cookiejar",
    "urllib.request",
    "decimal",
    "argparse",
    "logging.handlers",
    "pydoc",
    "uvicorn",
    "click",
    "pygments.lexers.python",
    "jsonschema",
    "tornado.web",
    "_pytest.python",
    "pytest",
    "tomlkit",
    "pyinstrument",
    "sqlalchemy.dialects.mysql",
    "sqlalchemy.dialects.mssql",
    "sqlalchemy.dialects.oracle",
    "multiprocessing.pool",
    "tarfile",
    "pdb",
    "doctest",
    "smtplib",
    "imaplib",
    "xmlrpc.server",
    "ftplib",
    "mailbox",
    "plistlib",
    "psycopg",
)


def functions(profiler: cProfile.Profile) -> int:
    """Distinct functions as the pstats file will hold them: cProfile keys its stats on
    (file, line, name), so code objects that share one (dataclass-generated methods, all
    `<string>:2`) make one entry."""
    keys = set()
    for entry in profiler.getstats():
        code = entry.code
        if isinstance(code, str):
            keys.add(("~", 0, code))
        else:
            keys.add((code.co_filename, code.co_firstlineno, code.co_name))
    return len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--functions", type=int, default=6500)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    profiler = cProfile.Profile()
    imported, failed = [], []
    count = 0
    for module in MODULES:
        profiler.enable()
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a missing optional package: go on with the next
            failed.append(module)
        finally:
            profiler.disable()
        imported.append(module)
        count = functions(profiler)
        if count >= args.functions:
            break
    profiler.dump_stats(args.output)
    # the entries of the file: dump_stats has filled `stats`, keyed as pstats keys them
    result = {"entries": len(profiler.stats), "modules": imported, "failed": failed}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
