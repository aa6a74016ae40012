"""The models' dependency graph as text (for a terminal) and as Graphviz DOT (for an image)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sluice.marts.project import LAYERS, Project

_LAYER_COLOURS = {"source": "#eeeeee", "staging": "#dbeafe", "core": "#dcfce7", "marts": "#fef3c7"}


def as_text(project: Project) -> str:
    """One line per model, in build order: `layer  model  <- what it reads`."""
    width = max(len(name) for name in project.models)
    lines = []
    for model in project.models.values():
        past = " (+ its own past)" if model.reads_own_past else ""
        lines.append(f"{model.layer:<8} {model.name:<{width}}  <- {', '.join(sorted(model.upstream))}{past}")
    return "\n".join(lines)


def as_dot(project: Project) -> str:
    lines = ["digraph marts {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    layers = {"source": list(project.sources)}
    layers |= {layer: [m.name for m in project.models.values() if m.layer == layer] for layer in LAYERS}
    for layer, names in layers.items():
        lines.append(f'  subgraph cluster_{layer} {{ label={layer!r}; color="#cccccc";'.replace("'", '"'))
        lines.extend(f'    "{name}" [fillcolor="{_LAYER_COLOURS[layer]}"];' for name in names)
        lines.append("  }")
    for model in project.models.values():
        lines.extend(f'  "{upstream}" -> "{model.name}";' for upstream in sorted(model.upstream))
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_image(project: Project, path: Path) -> Path:
    """Render the graph with Graphviz; the format follows the file's suffix (.png, .svg, .pdf)."""
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("Graphviz's `dot` is not installed: run `make setup` (or apt-get install graphviz)")
    fmt = path.suffix.lstrip(".") or "png"
    subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=as_dot(project), text=True, check=True)
    return path
