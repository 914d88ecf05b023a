"""The package's imports: no cycle anywhere, imports only for type checking included
(the layers themselves are import-linter's contracts in pyproject.toml)."""

from __future__ import annotations

import grimp


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("facewatchd")  # imports under TYPE_CHECKING count too
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} ⇄ {imported}")
    assert cycles == []
