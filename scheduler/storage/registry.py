"""Which Runner and Metric classes (and runner functions) may be stored, by name.

A stored runner or metric is `{"type": <registered name>, "args": <JSON>}`;
`args` is `obj.serialize_init_args()` and loading calls `cls(**args)`. Only
registered classes are stored, so loading never imports arbitrary classes
named by the database, and an unregistered class fails when it is SAVED (not
days later, when a crashed run is resumed).

`FunctionRunner` wraps a Python function, which is stored by name: a name
given to `register_function`, or `module:qualname` for a module-level
function (re-running the same script defines it again, so resume works).
Lambdas and nested functions have no such name and must be registered.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from scheduler.core.metric import Metric
from scheduler.core.runner import Runner
from scheduler.storage.errors import EncodingError, StorageError, UnregisteredClassError

Kind = Literal["runner", "metric"]
_BASES: dict[str, type] = {"runner": Runner, "metric": Metric}
C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

Encode = Callable[[Any, "Registry"], dict[str, Any]]
Decode = Callable[[type, dict[str, Any], "Registry"], Any]


def _encode_init_args(obj: Any, registry: Registry) -> dict[str, Any]:
    args = obj.serialize_init_args()
    if not isinstance(args, dict):
        raise EncodingError(
            f"{type(obj).__name__}.serialize_init_args() returned "
            f"{type(args).__name__}; it must return a dict of constructor arguments."
        )
    return args


def _decode_init_args(cls: type, args: dict[str, Any], registry: Registry) -> Any:
    return cls(**args)


@dataclass(frozen=True)
class Codec:
    """How one registered class is written to and rebuilt from JSON."""

    kind: Kind
    name: str
    cls: type
    encode: Encode = _encode_init_args
    decode: Decode = _decode_init_args


class Registry:
    """Name <-> class maps for runners and metrics, plus named functions.

    A registry made by `RegistryBundle` falls back to the default registry,
    so built-in and globally registered classes are always known.
    """

    def __init__(self, parent: Registry | None = None) -> None:
        self.parent = parent
        self._by_name: dict[tuple[str, str], Codec] = {}
        self._by_class: dict[tuple[str, type], Codec] = {}
        self._functions: dict[str, Callable[..., Any]] = {}
        self._function_names: dict[Callable[..., Any], str] = {}

    # -- registration --------------------------------------------------------
    def register(
        self,
        kind: Kind,
        cls: type,
        name: str | None = None,
        encode: Encode = _encode_init_args,
        decode: Decode = _decode_init_args,
    ) -> None:
        """Register `cls` under `name` (default: the class name)."""
        base = _BASES[kind]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise StorageError(f"register_{kind} needs a subclass of {base.__name__}, got {cls!r}.")
        name = name or cls.__name__
        existing = self._lookup_name(kind, name)
        if existing is not None and existing.cls is not cls:
            raise StorageError(
                f"{kind} name {name!r} is already registered for "
                f"{_qualified(existing.cls)}; register {_qualified(cls)} under another "
                f"name, e.g. register_{kind}({cls.__name__}, name='{cls.__module__}."
                f"{cls.__qualname__}')."
            )
        codec = Codec(kind, name, cls, encode, decode)
        self._by_name[(kind, name)] = codec
        self._by_class.setdefault((kind, cls), codec)

    def register_runner(self, cls: C, name: str | None = None) -> C:
        self.register("runner", cls, name)
        return cls

    def register_metric(self, cls: C, name: str | None = None) -> C:
        self.register("metric", cls, name)
        return cls

    def register_function(self, function: F, name: str | None = None) -> F:
        """Name a function (e.g. a `FunctionRunner`'s) so it can be stored."""
        name = name or _function_path(function)
        known = self._lookup_function(name)
        if known is not None and known is not function:
            raise StorageError(
                f"Function name {name!r} is already registered for another function; "
                "pass a different name."
            )
        self._functions[name] = function
        self._function_names.setdefault(function, name)
        return function

    # -- lookup --------------------------------------------------------------
    def _lookup_name(self, kind: Kind, name: str) -> Codec | None:
        codec = self._by_name.get((kind, name))
        if codec is None and self.parent is not None:
            codec = self.parent._lookup_name(kind, name)
        return codec

    def _lookup_class(self, kind: Kind, cls: type) -> Codec | None:
        codec = self._by_class.get((kind, cls))
        if codec is None and self.parent is not None:
            codec = self.parent._lookup_class(kind, cls)
        return codec

    def _root(self) -> Registry:
        return self if self.parent is None else self.parent._root()

    def check_registered(self, items: Iterable[tuple[Kind, Any]]) -> None:
        """Raise one `UnregisteredClassError` naming every unregistered class at once."""
        missing: dict[type, Kind] = {}
        for kind, obj in items:
            if obj is not None and self._find_class(kind, type(obj)) is None:
                missing.setdefault(type(obj), kind)
        if not missing:
            return
        if len(missing) == 1:
            cls, kind = next(iter(missing.items()))
            raise _unregistered(kind, cls)
        calls = "; ".join(f"register_{k}({c.__name__})" for c, k in missing.items())
        runners = ", ".join(f"{c.__name__}: None" for c, k in missing.items() if k == "runner")
        metrics = ", ".join(f"{c.__name__}: None" for c, k in missing.items() if k == "metric")
        raise UnregisteredClassError(
            f"Cannot store {', '.join(_qualified(c) for c in missing)}: these classes are "
            f"not registered. Call scheduler.storage.{calls} before creating the Scheduler "
            "(and before loading the experiment again), or pass DBSettings(url, "
            f"registry=RegistryBundle(metric_clss={{{metrics}}}, runner_clss={{{runners}}}))."
        )

    def _find_class(self, kind: Kind, cls: type) -> Codec | None:
        return self._lookup_class(kind, cls)

    def codec_for(self, kind: Kind, obj: Any) -> Codec:
        cls = type(obj)
        codec = self._find_class(kind, cls)
        if codec is None:
            raise _unregistered(kind, cls)
        return codec

    def codec_named(self, kind: Kind, name: str) -> Codec:
        codec = self._lookup_name(kind, name)
        if codec is None:
            raise UnregisteredClassError(
                f"The database stores a {kind} of type {name!r}, which is not registered "
                f"in this process. Import its class and call register_{kind}(TheClass, "
                f"name={name!r}) (or pass a RegistryBundle in DBSettings) before loading."
            )
        return codec

    # -- encode / decode -----------------------------------------------------
    def encode(self, kind: Kind, obj: Any) -> dict[str, Any]:
        """`{"type": name, "args": {...}}` for a registered runner or metric."""
        codec = self.codec_for(kind, obj)
        args = codec.encode(obj, self)
        try:
            json.dumps(args, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise EncodingError(
                f"{kind} {type(obj).__name__}: serialize_init_args() returned {args!r}, "
                f"which is not JSON-safe ({exc}); return only str, numbers, bools, "
                "None, lists and dicts."
            ) from exc
        return {"type": codec.name, "args": args}

    def decode(self, kind: Kind, blob: Mapping[str, Any]) -> Any:
        codec = self.codec_named(kind, str(blob["type"]))
        args = dict(blob.get("args") or {})
        try:
            return codec.decode(codec.cls, args, self)
        except UnregisteredClassError:
            raise
        except Exception as exc:
            raise StorageError(
                f"Could not rebuild {kind} {codec.name!r} from its stored arguments "
                f"{args!r}: {type(exc).__name__}: {exc}. Its serialize_init_args() must "
                f"return the keyword arguments of {codec.cls.__name__}.__init__."
            ) from exc

    # -- functions -----------------------------------------------------------
    def _lookup_function(self, name: str) -> Callable[..., Any] | None:
        found = self._functions.get(name)
        if found is None and self.parent is not None:
            found = self.parent._lookup_function(name)
        return found

    def _lookup_function_name(self, function: Callable[..., Any]) -> str | None:
        try:
            found = self._function_names.get(function)
        except TypeError:  # unhashable callable
            found = None
        if found is None and self.parent is not None:
            found = self.parent._lookup_function_name(function)
        return found

    def function_name(self, function: Callable[..., Any]) -> str:
        """The name a function is stored under; raises if it has none."""
        name = self._lookup_function_name(function)
        if name is not None:
            return name
        path = _function_path(function)
        if _resolve_path(path) is function:
            return path
        raise UnregisteredClassError(
            f"Cannot store FunctionRunner: its function {path!r} cannot be found again "
            "by name (a lambda, a nested function or a callable object). Define it at "
            "module level, or call scheduler.storage.register_function(fn, "
            "name='my_objective') before creating the Scheduler and before loading."
        )

    def function(self, name: str) -> Callable[..., Any]:
        found = self._lookup_function(name) or _resolve_path(name)
        if found is None:
            raise UnregisteredClassError(
                f"The database stores a FunctionRunner whose function is {name!r}, which "
                "this process does not know. Call scheduler.storage.register_function("
                f"fn, name={name!r}) (or import the module defining it) before loading."
            )
        return found


class ReadingRegistry(Registry):
    """Rebuilds what it can and stands in for the rest, for commands that only read
    a stored experiment (`list`, `status`, `report`) in a process that lacks some
    of its classes: an unknown metric becomes a plain `Metric` of the same name
    and direction, an unknown runner an `UnavailableRunner`. Neither can be
    stored, so nothing read this way overwrites the real definition."""

    def decode(self, kind: Kind, blob: Mapping[str, Any]) -> Any:
        try:
            return super().decode(kind, blob)
        except UnregisteredClassError as exc:
            args = dict(blob.get("args") or {})
            if kind == "metric" and isinstance(args.get("name"), str):
                return _StandInMetric(args["name"], args.get("lower_is_better"))
            return UnavailableRunner(str(exc))


class _StandInMetric(Metric):
    """A stored metric whose class this process lacks: its name and direction only."""


class UnavailableRunner(Runner):
    """A stored runner this process cannot rebuild: reading works, running says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def run(self, trial: Any) -> dict[str, Any]:
        raise UnregisteredClassError(self.reason)

    def poll_trial_status(self, trials: Iterable[Any]) -> dict[Any, set[int]]:
        raise UnregisteredClassError(self.reason)


def _unregistered(kind: Kind, cls: type) -> UnregisteredClassError:
    bundle = "runner_clss" if kind == "runner" else "metric_clss"
    return UnregisteredClassError(
        f"Cannot store {kind} {_qualified(cls)}: the class is not registered. "
        f"Call scheduler.storage.register_{kind}({cls.__name__}) before creating "
        f"the Scheduler (and before loading the experiment again), or pass "
        f"DBSettings(url, registry=RegistryBundle({bundle}={{{cls.__name__}: None}}))."
    )


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _function_path(function: Callable[..., Any]) -> str:
    module = getattr(function, "__module__", None) or "?"
    qualname = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}:{qualname}"


def _resolve_path(path: str) -> Callable[..., Any] | None:
    """The module-level object `module:qualname`, if it can be found."""
    module_name, _, qualname = path.partition(":")
    if not qualname or "<" in qualname:
        return None
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError):
        return None
    return found if callable(found) else None


DEFAULT_REGISTRY = Registry()
DEFAULT_REGISTRY.register("runner", Runner)
DEFAULT_REGISTRY.register("metric", Metric)


def register_runner(cls: C, name: str | None = None) -> C:
    """Let instances of `cls` be stored; usable as a class decorator."""
    return DEFAULT_REGISTRY.register_runner(cls, name)


def register_metric(cls: C, name: str | None = None) -> C:
    """Let instances of `cls` be stored; usable as a class decorator."""
    return DEFAULT_REGISTRY.register_metric(cls, name)


def register_function(function: F, name: str | None = None) -> F:
    """Let a `FunctionRunner` wrapping `function` be stored (and found on load)."""
    return DEFAULT_REGISTRY.register_function(function, name)


class RegistryBundle:
    """The tutorial's bundle: extra classes on top of the default registry.

    `RegistryBundle(metric_clss={MyMetric: None}, runner_clss={MyRunner: None})`;
    a `None` name means the class name. Pass `DBSettings(url, registry=bundle)`
    or, as in the tutorial, `encoder=bundle.encoder, decoder=bundle.decoder`.
    """

    def __init__(
        self,
        metric_clss: Mapping[type, str | None] | None = None,
        runner_clss: Mapping[type, str | None] | None = None,
        functions: Mapping[Callable[..., Any], str | None] | None = None,
    ) -> None:
        self.registry = Registry(parent=DEFAULT_REGISTRY)
        for cls, name in (metric_clss or {}).items():
            self.registry.register_metric(cls, name)
        for cls, name in (runner_clss or {}).items():
            self.registry.register_runner(cls, name)
        for function, fname in (functions or {}).items():
            self.registry.register_function(function, fname)

    @property
    def encoder(self) -> Registry:
        return self.registry

    @property
    def decoder(self) -> Registry:
        return self.registry
