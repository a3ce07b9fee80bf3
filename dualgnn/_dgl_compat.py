"""Import DGL 2.1.0 on a torch it was not built for. Every DGL import in dualgnn goes through here.

Why this module exists (measured on this project's machines, see DESIGN.md "Facts about this machine"):

* DGL 2.1.0 is the newest DGL wheel for CPython 3.11 on Linux. It ships its native ``graphbolt`` library only for
  torch 2.0.0-2.2.1, and ``dgl/__init__.py`` imports ``dgl.graphbolt`` unconditionally. On torch 2.13 that
  import fails (missing ``libgraphbolt_pytorch_2.13.*.so``, or ``torchdata.datapipes`` which newer torchdata
  removed), and with it ``import dgl``. dualgnn does not use graphbolt (it uses DGL's classic samplers and
  message passing), so we register an empty stand-in module under that name before DGL is imported.
* DGL 2.1.0 imports ``setuptools.extern.packaging``, which current setuptools removed. We alias it to the
  standalone ``packaging`` distribution, which is the same code.

The alternative, torch 2.2.1, pulls several GB of CUDA libraries from the index and needs numpy < 2.
With the shim, heterographs, update_all / multi_update_all, GATConv, edge_softmax, sample_neighbors, the
DataLoader and save_graphs / load_graphs work on torch 2.13 (covered by tests/test_dgl_compat.py).

Usage::

    from dualgnn._dgl_compat import dgl, fn
"""

from __future__ import annotations

import importlib
import sys
import types

from dualgnn.errors import DualGNNError


class DGLUnavailableError(DualGNNError):
    """DGL could not be imported even with the compatibility shim (the CLI prints it as a one-paragraph error)."""


def _alias_setuptools_packaging() -> None:
    try:
        importlib.import_module("setuptools.extern.packaging")
        return
    except Exception:  # noqa: BLE001 - any failure means the alias is needed
        pass
    import packaging
    import packaging.version

    extern = types.ModuleType("setuptools.extern")
    extern.packaging = packaging  # type: ignore[attr-defined]
    sys.modules.setdefault("setuptools.extern", extern)
    sys.modules["setuptools.extern.packaging"] = packaging
    sys.modules["setuptools.extern.packaging.version"] = packaging.version


def _stub_graphbolt() -> None:
    if "dgl.graphbolt" in sys.modules:
        return
    stub = types.ModuleType("dgl.graphbolt")
    stub.__doc__ = "Stand-in registered by dualgnn._dgl_compat: graphbolt's native library is absent for this torch."
    sys.modules["dgl.graphbolt"] = stub


def _import_dgl():
    if "dgl" in sys.modules and hasattr(sys.modules["dgl"], "heterograph"):
        return sys.modules["dgl"]
    _alias_setuptools_packaging()
    _stub_graphbolt()
    try:
        return importlib.import_module("dgl")
    except Exception as exc:  # noqa: BLE001 - turn any import failure into one actionable message
        import torch

        raise DGLUnavailableError(
            f"dualgnn needs DGL 2.1.0, which failed to import on torch {torch.__version__}: {exc!r}",
            hint="install the pinned versions with `pip install torch==2.13.0 dgl==2.1.0 packaging` "
                 "(or run `make install` from the project root)") from exc


dgl = _import_dgl()
fn = dgl.function

__all__ = ["dgl", "fn", "DGLUnavailableError"]
