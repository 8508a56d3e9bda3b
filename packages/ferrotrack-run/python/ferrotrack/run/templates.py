"""Input files rendered from a model's config with Jinja2 (strict: a missing key is an error).

Jinja2 rather than our own syntax: model input files are often long Fortran namelists or
INI files, and Jinja2's loops, filters and error lines are what their authors know.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from ferrotrack.run.errors import TemplateError

__all__ = ["render_templates"]


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # input files, not HTML
    )


def render_templates(
    templates: Mapping[str, str],
    template_dir: Path | None,
    dest: Path,
    *,
    context: Mapping[str, Any],
) -> list[Path]:
    """Renders every template of ``template_dir`` (relative paths and permission bits
    kept) and then ``templates`` (name -> text, overriding a file of the same name) into
    ``dest``; the files written."""
    sources: dict[str, Path | None] = {}
    loaders: list[jinja2.BaseLoader] = [jinja2.DictLoader(dict(templates))]
    if template_dir is not None:
        folder = Path(template_dir)
        if not folder.is_dir():
            raise TemplateError(f"template_dir {folder} is not a folder")
        loaders.append(jinja2.FileSystemLoader(str(folder)))
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            sources[path.relative_to(folder).as_posix()] = path
    for name in templates:
        sources[name] = None
    env = _environment(jinja2.ChoiceLoader(loaders))
    written = []
    for name, origin in sources.items():
        target = (dest / name).resolve()
        if not target.is_relative_to(dest.resolve()):
            raise TemplateError(f"template {name!r} would be written outside {dest}")
        try:
            text = env.get_template(name).render(**context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {name!r}, line {exc.lineno}: {exc.message}") from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                f"template {name!r}: {exc.message} (the model run's config has no such key)"
            ) from None
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if origin is not None and name not in templates:
            shutil.copymode(origin, target)  # an executable template stays executable
        written.append(target)
    return written
