"""`hub.extraConfig`: a site's own Python, run after the bundle's configuration.

Sites reach for a snippet when a knob is missing (a template variable, an authenticator hook,
a spawner option) rather than building a hub image of their own. Snippets run in the order of
their names, each in a namespace of its own holding `c`, `get_value` and `custom`, so one
snippet's helpers do not leak into the next. A failing snippet stops the hub with its name and
line: a hub that silently ignored part of its configuration would be worse.
"""

from __future__ import annotations

import traceback
from typing import Any

from hub_config.values import SettingsError, get_value


def run_extra_config(c: Any, values: dict[str, Any]) -> list[str]:
    """Run every snippet of `hub.extraConfig` on `c`; the names run, in order."""
    snippets = get_value("hub.extraConfig", {}, values)
    if not isinstance(snippets, dict):
        raise SettingsError("hub setting 'hub.extraConfig' must map names to Python snippets")
    custom = get_value("custom", {}, values)
    ran = []
    for name in sorted(snippets):
        source = snippets[name]
        if not isinstance(source, str):
            raise SettingsError(f"hub setting 'hub.extraConfig.{name}' must be Python source text")
        filename = f"<hub.extraConfig.{name}>"
        namespace = {
            "__name__": f"hub_extra_config_{name}",
            "c": c,
            "custom": custom,
            "get_value": lambda key, default=None: get_value(key, default, values),
        }
        try:
            exec(compile(source, filename, "exec"), namespace)
        except Exception as err:
            frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == filename]
            line = f" line {frames[-1].lineno}" if frames else ""
            if isinstance(err, SyntaxError) and err.lineno:
                line = f" line {err.lineno}"
            raise SettingsError(
                f"hub setting 'hub.extraConfig.{name}'{line}: {type(err).__name__}: {err}"
            ) from err
        ran.append(name)
    return ran
