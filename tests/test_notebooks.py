"""The notebooks in notebooks/ run top to bottom on a real Jupyter kernel (nbclient), and no cell
errors (issue 19 item 3). They are committed without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["explore_pstats.ipynb", "compare_runs.ipynb"])
def test_the_notebook_runs_top_to_bottom_on_a_real_kernel(tmp_path: Path, name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    # runs are written under the kernel's working directory: a temporary one
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, errors
    assert list(tmp_path.glob("profiling_results/*/*/manifest.json"))
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    # the rich displays came through: a run's summary and flame graph, a chart
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("<svg" in h and "Hotspot: " in h for h in html)
    assert any("image/png" in o.get("data", {}) for o in outputs)
    if name == "explore_pstats.ipynb":
        # the db target's lazy loading: the N+1 finding, captured from the run's SQL, as a table
        assert any("<table" in h and "SELECT" in h and "per unit of work" in h for h in html), html


@pytest.mark.parametrize("name", ["explore_pstats.ipynb", "compare_runs.ipynb"])
def test_the_notebook_is_committed_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
