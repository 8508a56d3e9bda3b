"""The dashboard's files turned into one HTML file: the ES modules joined into one inline
module (a page opened from ``file://`` cannot import sibling files), the CSS and plotly.js
inlined, and the data embedded as JSON that no string in it can break out of.

The modules follow two rules so that joining them is plain text work: imports are
``import { a, b } from "./x.js";`` on one line, and top-level names are unique across
modules (they share one scope once joined). :func:`bundle_modules` checks both.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ferrotrack.core.errors import InvalidArgumentError, MissingDependencyError

__all__ = [
    "DATA_ELEMENT_ID",
    "BundleError",
    "bundle_modules",
    "embed_json",
    "inline_script",
    "json_ready",
    "plotly_js_path",
    "read_embedded",
    "render_report",
    "static_folder",
]

DATA_ELEMENT_ID = "ferrotrack-data"
"""The id of the ``<script type="application/json">`` holding a report's data."""

ENTRY = "app.js"

_IMPORT = re.compile(r'^import \{([^}]*)\} from "\./([\w-]+\.js)";[ \t]*$', re.M)
_EXPORT = re.compile(r"^export (?=(?:async )?(?:function|const|let|class)\b)", re.M)
_OTHER_MODULE_SYNTAX = re.compile(r"^(?:import|export)\b.*$", re.M)
_DECLARATION = re.compile(r"^(?:async )?(?:function\*?|const|let|class)\s+([A-Za-z_$][\w$]*)", re.M)
_SCRIPT_END = re.compile(r"</(script)", re.I)

_STYLE_TAG = '<link rel="stylesheet" href="/static/app.css">'
_PLOTLY_TAG = '<link rel="preload" id="plotly-js" href="/static/vendor/plotly.min.js" as="script">'
_APP_TAG = '<script type="module" src="/static/app.js"></script>'


class BundleError(InvalidArgumentError):
    """The static files break a rule the bundler relies on (a bug of this package)."""


def static_folder() -> Path:
    """The folder of the dashboard's HTML, CSS and modules (package data)."""
    return Path(__file__).resolve().parent.parent / "static"


def plotly_js_path() -> Path:
    """plotly.js as the ``plotly`` wheel carries it (found without importing plotly)."""
    from importlib.util import find_spec

    spec = find_spec("plotly")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    raise MissingDependencyError(
        "plotly.js not found: the report inlines the copy the plotly package carries "
        "(pip install ferrotrack-ui, which depends on plotly)"
    )


def bundle_modules(sources: Mapping[str, str], entry: str = ENTRY) -> str:
    """The modules in ``sources`` (file name -> text) that ``entry`` reaches, joined into
    one script: each module after those it imports, ``import`` lines dropped, ``export``
    keywords removed.

    Raises :class:`BundleError` for an import of a missing module or name, another form of
    import or export, a cycle, or a top-level name declared by two modules.
    """
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in visiting:
            raise BundleError(f"modules import each other: {' -> '.join((*chain, name))}")
        if name not in sources:
            raise BundleError(f"{chain[-1] if chain else '<entry>'} imports missing {name}")
        visiting.add(name)
        for match in _IMPORT.finditer(sources[name]):
            target = match.group(2)
            visit(target, (*chain, name))
            exported = _exports(sources[target])
            for imported in (n.strip() for n in match.group(1).split(",")):
                if imported and imported not in exported:
                    raise BundleError(
                        f"{name} imports {imported!r}, which {target} does not export"
                    )
        visiting.discard(name)
        order.append(name)

    visit(entry, ())
    owners: dict[str, str] = {}
    parts = []
    for name in order:
        text = _IMPORT.sub("", sources[name])
        text = _EXPORT.sub("", text)
        stray = _OTHER_MODULE_SYNTAX.search(text)
        if stray:
            raise BundleError(f"{name}: unsupported module syntax {stray.group(0)!r}")
        for declared in _DECLARATION.findall(text):
            if declared in owners:
                raise BundleError(
                    f"top-level name {declared!r} is declared by {owners[declared]} and {name}"
                )
            owners[declared] = name
        parts.append(f"// ---- {name}\n{text}")
    return "\n".join(parts)


def _exports(text: str) -> set[str]:
    return {
        m.group(1)
        for m in re.finditer(
            r"^export (?:async )?(?:function\*?|const|let|class)\s+([A-Za-z_$][\w$]*)", text, re.M
        )
    }


def inline_script(code: str) -> str:
    """``code`` safe inside ``<script>…</script>``: a ``</script`` in it (in a string or a
    regular expression) is written ``<\\/script``, which means the same to JavaScript."""
    return _SCRIPT_END.sub(r"<\\/\1", code)


def json_ready(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON has no such numbers: a chart
    draws a gap) and tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def embed_json(data: Any) -> str:
    """``data`` as JSON text that can sit inside a ``<script>`` element: ``<``, ``>``,
    ``&`` and the two JavaScript line separators escaped, so no string in the data
    closes the element or opens a comment; ``JSON.parse`` reads back the same data."""
    text = json.dumps(json_ready(data), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def read_embedded(html: str) -> Any:
    """The data a report embeds (what the page's ``JSON.parse`` sees)."""
    start_tag = f'<script type="application/json" id="{DATA_ELEMENT_ID}">'
    start = html.index(start_tag) + len(start_tag)
    end = html.index("</script>", start)
    return json.loads(html[start:end])


def render_report(data: Mapping[str, Any], *, static: Path | None = None) -> str:
    """The report's HTML: ``static/index.html`` with its stylesheet, plotly.js and modules
    inlined and ``data`` embedded."""
    folder = static or static_folder()
    page = (folder / "index.html").read_text(encoding="utf-8")
    modules = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.js"))}
    css = (folder / "app.css").read_text(encoding="utf-8")
    plotly = plotly_js_path().read_text(encoding="utf-8")
    app = bundle_modules(modules)
    if "</style" in css.lower():
        raise BundleError("static/app.css must not contain '</style'")
    replacements = {
        _STYLE_TAG: f"<style>\n{css}\n</style>",
        # not run as the page loads: the page runs it when it draws its first chart
        _PLOTLY_TAG: (
            f'<script type="text/plain" id="plotly-inline">{inline_script(plotly)}</script>'
        ),
        _APP_TAG: (
            f'<script type="application/json" id="{DATA_ELEMENT_ID}">{embed_json(data)}</script>\n'
            f'<script type="module">\n{inline_script(app)}\n</script>'
        ),
    }
    for tag, replacement in replacements.items():
        if page.count(tag) != 1:
            raise BundleError(f"static/index.html must hold {tag!r} exactly once")
        head, tail = page.split(tag)
        page = head + replacement + tail
    return page
