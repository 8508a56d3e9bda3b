"""Input files rendered from a model's config with Jinja2 (strict: a missing key is an error).

Jinja2 rather than our own syntax: model input files are often long Fortran namelists or
INI files, and Jinja2's loops, filters and error lines are what their authors know. A file
of a template folder that is not UTF-8 text (a grid, an executable) is copied as it is;
``__pycache__`` folders are left out (bytecode of a template folder's scripts).
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
    kept; files that are not UTF-8 copied verbatim; ``__pycache__`` skipped) and then
    ``templates`` (name -> text, overriding a file of the same name) into ``dest``; the
    files written. Any Jinja2 error is a :class:`TemplateError` naming the template."""
    sources: dict[str, Path | None] = {}
    loaders: list[jinja2.BaseLoader] = [jinja2.DictLoader(dict(templates))]
    if template_dir is not None:
        folder = Path(template_dir)
        if not folder.is_dir():
            raise TemplateError(f"template_dir {folder} is not a folder")
        loaders.append(jinja2.FileSystemLoader(str(folder)))
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder)
            if _SKIPPED not in relative.parts[:-1]:
                sources[relative.as_posix()] = path
    for name in templates:
        sources[name] = None
    env = _environment(jinja2.ChoiceLoader(loaders))
    written = []
    for name, origin in sources.items():
        target = (dest / name).resolve()
        if not target.is_relative_to(dest.resolve()):
            raise TemplateError(f"template {name!r} would be written outside {dest}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin is not None and not _is_text(origin):
            shutil.copyfile(origin, target)  # a binary input, not a template
        else:
            target.write_text(_render(env, name, context), encoding="utf-8")
        if origin is not None:
            shutil.copymode(origin, target)  # an executable template stays executable
        written.append(target)
    return written


_SKIPPED = "__pycache__"


def _is_text(path: Path) -> bool:
    """Whether a template folder's file is UTF-8 text (else it is copied, not rendered)."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _render(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name!r}, line {exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"template {name!r}: {exc.message} (the model run's config has no such key)"
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template {name!r}: no template named {exc.name!r}") from None
    except Exception as exc:  # a filter or an expression failing while it renders
        raise TemplateError(f"template {name!r}: {type(exc).__name__}: {exc}") from None
