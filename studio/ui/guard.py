"""Every event handler of the app, wrapped once: a StudioError or any unexpected exception reaches the user as a
sentence in their language (a gradio error toast), with the traceback in the log file, never a blank 'Error'."""
from __future__ import annotations

import functools
import inspect

import gradio as gr

from studio.core.crash import explain_unexpected
from studio.locale import LANGS, render, tr


def _lang(args: tuple) -> str:
    """Handlers take the session's language as their last argument; else English."""
    return next((a for a in reversed(args) if isinstance(a, str) and a in LANGS), "en")


def guarded(fn):
    name = getattr(fn, "__qualname__", "handler")

    def fail(e: BaseException, args: tuple):
        lang = _lang(args)
        return gr.Error(render(explain_unexpected(e, f"ui {name}"), lang), title=tr(lang, "toast.error"),
                        print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as e:  # noqa: BLE001 - the point of this wrapper
                raise fail(e, args) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as e:  # noqa: BLE001 - the point of this wrapper
            raise fail(e, args) from None
    return wrapper


def guard_all(demo: gr.Blocks) -> None:
    for block_fn in demo.fns.values():
        fn = getattr(block_fn, "fn", None)
        if fn is not None and not inspect.iscoroutinefunction(fn) and not inspect.isasyncgenfunction(fn) \
                and not getattr(fn, "__wrapped__", None):
            block_fn.fn = guarded(fn)
