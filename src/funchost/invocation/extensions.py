"""Python worker extensions (azure.functions.extension): the hooks and their exact order.

At load: `post_function_load` (function-level), then `post_function_load_app_level`.
Per invocation: `pre_invocation_app_level`, `pre_invocation`, the function, `post_invocation`,
`post_invocation_app_level`. For each hook name the function-level hooks run before the
application-level ones, as in the worker. A failing hook is logged and swallowed; when the
function raises, no post hook runs.
"""

from __future__ import annotations

import logging
from typing import Any

from azure.functions.extension import ExtensionMeta

logger = logging.getLogger("funchost.extension")

PRE_APP = "pre_invocation_app_level"
PRE_FUNC = "pre_invocation"
POST_FUNC = "post_invocation"
POST_APP = "post_invocation_app_level"


def _hooks(function_name: str, hook_name: str) -> list[Any]:
    found: list[Any] = []
    for hooks in (
        ExtensionMeta.get_function_hooks(function_name),
        ExtensionMeta.get_application_hooks(),
    ):
        if hooks:
            found.extend(getattr(hooks, hook_name, []) or [])
    return found


def run_load_hooks(function_name: str, function_directory: str) -> None:
    for hook_name in ("post_function_load", "post_function_load_app_level"):
        for hook in _hooks(function_name, hook_name):
            try:
                hook.ext_impl(function_name, function_directory)
            except Exception as exc:
                logger.error(exc, exc_info=True)


def run_invocation_hooks(
    hook_name: str, context: Any, args: dict[str, Any], result: Any = None
) -> None:
    for hook in _hooks(context.function_name, hook_name):
        ext_logger = logging.getLogger(f"funchost.extension.{hook.ext_name}")
        try:
            if hook_name in (PRE_APP, PRE_FUNC):
                hook.ext_impl(ext_logger, context, args)
            else:
                hook.ext_impl(ext_logger, context, args, result)
        except Exception as exc:
            ext_logger.error(exc, exc_info=True)
