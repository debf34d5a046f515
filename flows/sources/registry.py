"""What each live source offers, by name: its HTTP client, its fetchers and its parsers.

Every source package (``flows/sources/<source>/__init__.py``) registers its own
capabilities when it is imported::

    @register_client("yahoo")            # LiveSettings -> HttpClient
    @register_fetcher("yahoo_chart")     # (client, args, live) -> bytes | [bytes | (label, bytes)]
    @register_parser("yahoo_chart")      # (body, meta, settings) -> DataFrame with raw-table columns

A dataset's live plan names a fetcher and a parser per key (plain strings, so a
plan can travel to a Dask worker); landing manifests record the parser's name,
so a name, once used, is kept for replays. Lookups import every package under
``flows/sources/`` on first use: adding a source adds a package and nothing here.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pandas as pd

    from flows.settings import LiveSettings, Settings
    from flows.sources.http import HttpClient

F = TypeVar("F", bound=Callable[..., Any])
ClientFactory = Callable[["LiveSettings"], "HttpClient"]
Fetcher = Callable[["HttpClient | None", dict[str, Any], "LiveSettings"], Any]
Parser = Callable[[bytes, dict[str, Any], "Settings"], "pd.DataFrame"]

LOCAL = "local"  # the source of jobs that need no network (a payload the plan already holds)

_CLIENTS: dict[str, ClientFactory] = {}
_FETCHERS: dict[str, Fetcher] = {}
_PARSERS: dict[str, Parser] = {}
_discovered = False
_lock = threading.RLock()


def _register(table: dict[str, Any], kind: str, name: str) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        if name in table and table[name] is not function:
            raise ValueError(f"Two {kind}s are registered as {name!r}: {table[name]} and {function}.")
        table[name] = function
        return function

    return decorate


def register_client(source: str) -> Callable[[F], F]:
    """Register the factory of ``source``'s HttpClient (built once per extraction, limits shared)."""
    return _register(_CLIENTS, "client", source)


def register_fetcher(name: str) -> Callable[[F], F]:
    """Register a fetcher: ``(client, args, live)`` -> one body, or a list of bodies / (label, body) pairs."""
    return _register(_FETCHERS, "fetcher", name)


def register_parser(name: str) -> Callable[[F], F]:
    """Register a parser: ``(body, meta, settings)`` -> a DataFrame with its raw table's columns."""
    return _register(_PARSERS, "parser", name)


def _discover() -> None:
    """Import every source package once, so each has registered what it offers."""
    global _discovered
    with _lock:
        if _discovered:
            return
        package = importlib.import_module("flows.sources")
        for module in pkgutil.iter_modules(package.__path__):
            if module.ispkg:
                importlib.import_module(f"flows.sources.{module.name}")
        _discovered = True


def _lookup(table: dict[str, Any], kind: str, name: str) -> Any:
    if name not in table:
        _discover()
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise ValueError(f"No {kind} named {name!r} is registered (known: {known}).")
    return table[name]


def client_factory(source: str) -> ClientFactory:
    return _lookup(_CLIENTS, "client", source)


def fetcher(name: str) -> Fetcher:
    return _lookup(_FETCHERS, "fetcher", name)


def parser(name: str) -> Parser:
    return _lookup(_PARSERS, "payload parser", name)


@register_fetcher("payload")
def _payload(client: HttpClient | None, args: dict[str, Any], live: LiveSettings) -> bytes:
    """A body the plan already holds (a local file read when the plan was made): nothing to fetch."""
    return args["payload"]
