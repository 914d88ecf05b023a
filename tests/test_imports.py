"""The package's imports: no cycle anywhere, imports only for type checking included
(the layers themselves are import-linter's contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

import grimp


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("facewatchd")  # imports under TYPE_CHECKING count too
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} ⇄ {imported}")
    assert cycles == []


def test_dask_is_imported_only_with_a_cluster_section() -> None:
    """import-linter holds who may import it; this, that nothing does on the way in: a
    daemon without [cluster] never loads Dask (nor starts its threads)."""
    code = ("import sys\n"
            "from facewatchd.service import cli, daemon, oneshot, pools\n"
            "from facewatchd.control import ctl\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
