"""One Jinja2 environment per template directory, with compiled templates cached.

StrictUndefined turns a missing variable into an error; ``render_template``
re-raises it as a ``RenderError`` naming the template, its line and the hub.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from hubkit.errors import HubkitError
from hubkit.render.filters import FILTERS


class RenderError(HubkitError):
    """A template failed: missing variable, syntax error or a filter's bad input."""


def _autoescape(name: str | None) -> bool:
    # HTML and SVG are escaped; config files must stay verbatim.
    return bool(name) and name.endswith((".html.j2", ".svg.j2"))


_DICT_ATTRS = frozenset(dir(dict))


class PlainDataEnvironment(jinja2.Environment):
    """Jinja2 for contexts of plain dicts and lists (hubkit's render contexts).

    ``a.b`` compiles to ``getattr(a, "b")``: Jinja tries the attribute first
    and, for a dict, only finds the key after raising and catching an
    AttributeError.  Templates do that ~200 times per hub, so dict keys are
    looked up first here.  Names of dict methods (``items``, ``get`` ...) keep
    Jinja's order, so no template can tell the difference.
    """

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute not in _DICT_ATTRS:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


@functools.lru_cache(maxsize=8)
def environment(template_dir: str) -> jinja2.Environment:
    env = PlainDataEnvironment(
        loader=jinja2.FileSystemLoader(template_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=_autoescape,
        # Loaded once per process: never stat templates again per hub.
        auto_reload=False,
        cache_size=-1,
    )
    env.filters.update(FILTERS)
    return env


def _display(template_dir: Path, name: str) -> str:
    from hubkit.paths import TEMPLATES
    return f"templates/{name}" if Path(template_dir) == TEMPLATES else str(Path(template_dir) / name)


def get_template(template_dir: Path, name: str, hub_id: str) -> jinja2.Template:
    try:
        return environment(str(template_dir)).get_template(name)
    except jinja2.TemplateSyntaxError as e:
        raise RenderError(
            f"{_display(template_dir, name)}:{e.lineno}:1: {e.message} (hub {hub_id})",
            "fix the template syntax") from None
    except jinja2.TemplateNotFound:
        raise RenderError(f"template {name} not found in {template_dir} (hub {hub_id})",
                          "restore the template or fix the target table in hubkit/render/targets.py") from None


def _template_line(exc: BaseException, filename: str | None) -> int:
    """Line of the innermost traceback frame that belongs to the template."""
    line = 0
    tb = exc.__traceback__
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_context(template_dir: Path, context: dict) -> dict:
    """``context`` plus the environment's globals, for ``render_template(..., shared=True)``."""
    return {**environment(str(template_dir)).globals, **context}


def _render(tpl: jinja2.Template, context: dict, shared: bool) -> str:
    if not shared:
        return tpl.render(context)
    # Template.render without its per-call copy of globals + context into a
    # new dict (64 renders per hub): the caller passed render_context().
    # Top-level {% set %} writes to the Context's own vars, never to ``context``.
    try:
        return tpl.environment.concat(tpl.root_render_func(tpl.new_context(context, shared=True)))
    except Exception:
        tpl.environment.handle_exception()  # re-raises with template line numbers


def render_template(template_dir: Path, name: str, context: dict, hub_id: str, shared: bool = False) -> str:
    """Render one template; ``shared=True`` when ``context`` came from ``render_context``."""
    tpl = get_template(template_dir, name, hub_id)
    try:
        return _render(tpl, context, shared)
    except jinja2.UndefinedError as e:
        line = _template_line(e, tpl.filename)
        raise RenderError(f"{_display(template_dir, name)}:{line}:1: {e.message} while rendering hub {hub_id}",
                          "pass the variable from hubkit/render/context.py or fix its name") from None
    except (ValueError, TypeError, jinja2.TemplateError) as e:
        line = _template_line(e, tpl.filename)
        raise RenderError(f"{_display(template_dir, name)}:{line}:1: {e} while rendering hub {hub_id}",
                          "check the template and the hub's values") from None
