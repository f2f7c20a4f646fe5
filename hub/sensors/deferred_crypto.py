"""The BLE libraries imported without `cryptography` until an encrypted device needs it.

Two libraries on the BLE path import cryptography as they are imported, although a hub
whose BTHome devices are not encrypted never uses it:
  * `bthome_ble.parser` takes `InvalidTag` and `AESCCM`, to decrypt the adverts of a
    device paired with a bindkey;
  * `bluetooth_data_tools.privacy` (habluetooth imports it) takes `Cipher`, `algorithms`
    and `modes`, to resolve private addresses with an identity key: the hub never does.
cryptography's Rust binding costs ~5 MiB resident (x86-64, `python -m bench.memory
--budget`), the margin between the core hub with BLE, RFLink and pages and its 64 MiB
budget (issue 23).

`import_ble_libraries` imports both with stand-ins for those five names, and nothing
else changes: for the length of that import the builtin `__import__` hands the two
library modules (and only them, matched by the importing module's name) a stand-in
namespace instead of the cryptography module; every other import, in any thread, goes
to the real `__import__`, and no stand-in ever enters `sys.modules`. The first use of a
stand-in (bthome-ble builds its `AESCCM` when a parser is given a bindkey, before any
decryption) imports the real cryptography and rebinds all of that library module's
names to the real ones, `InvalidTag` included, so the library's `except InvalidTag`
catches the real exception from then on. Until then the `InvalidTag` stand-in is an
exception class nothing raises. Once cryptography is loaded (a signed config, an OTA, an
encrypted advert) it stays loaded until a restart, as any import does.

tests/test_deferred_crypto.py decrypts bthome-ble's own encrypted adverts through the
stand-ins in a fresh interpreter, and checks that a hub decoding plaintext adverts never
loads cryptography and that the hub's own signature checks still import it.
"""

from __future__ import annotations

import builtins
import importlib
import sys
import threading
from collections.abc import Mapping, Sequence
from types import ModuleType, SimpleNamespace
from typing import Any

# Library module -> the cryptography module it imports from -> the names it takes.
DEFERRED: dict[str, dict[str, tuple[str, ...]]] = {
    "bthome_ble.parser": {
        "cryptography.exceptions": ("InvalidTag",),
        "cryptography.hazmat.primitives.ciphers.aead": ("AESCCM",),
    },
    "bluetooth_data_tools.privacy": {
        "cryptography.hazmat.primitives.ciphers": ("Cipher", "algorithms", "modes"),
    },
}
# What the hub imports: bthome_ble's parser, and habluetooth for its advert record.
LIBRARIES = ("bthome_ble.parser", "habluetooth")
_EXCEPTIONS = "cryptography.exceptions"  # names from there are exception classes
_LOCK = threading.Lock()


def import_ble_libraries() -> None:
    """Import the BLE libraries, deferring cryptography (see the docstring). Idempotent."""
    if all(name in sys.modules for name in LIBRARIES):
        return
    if cryptography_loaded():  # nothing to save: the libraries take the real names
        for library in LIBRARIES:
            importlib.import_module(library)
        return
    with _LOCK:
        real_import = builtins.__import__

        def deferring_import(
            name: str,
            globals: Mapping[str, object] | None = None,  # __import__'s own parameter names
            locals: Mapping[str, object] | None = None,
            fromlist: Sequence[str] | None = (),
            level: int = 0,
        ) -> ModuleType:
            importer = globals.get("__name__") if globals is not None else None
            wanted = DEFERRED.get(importer) if isinstance(importer, str) else None
            # Always the stand-ins for these two modules, even if another thread loads
            # cryptography meanwhile: a library module never mixes real and stand-in names
            # (a real AESCCM with a stand-in InvalidTag would let the real one escape).
            if wanted is not None and level == 0 and name in wanted:
                assert isinstance(globals, dict)  # a module's own namespace
                # A namespace, not a module: it never enters sys.modules.
                return _stand_in(globals, wanted, name)  # type: ignore[return-value]
            return real_import(name, globals, locals, fromlist or (), level)

        builtins.__import__ = deferring_import
        try:
            for library in LIBRARIES:
                importlib.import_module(library)
        finally:
            builtins.__import__ = real_import


def cryptography_loaded() -> bool:
    """Whether the real cryptography is imported in this process."""
    return "cryptography" in sys.modules


def _stand_in(
    importer: dict[str, Any], wanted: dict[str, tuple[str, ...]], module: str
) -> SimpleNamespace:
    """What `from <module> import <names>` gets in the library module `importer`."""
    stand_ins: dict[str, Any] = {}
    for name in wanted[module]:
        if module == _EXCEPTIONS:
            # `except InvalidTag` needs a class; nothing raises this one.
            stand_ins[name] = type(name, (Exception,), {"__doc__": "cryptography not loaded"})
        else:
            stand_ins[name] = _Deferred(importer, wanted, name)
    return SimpleNamespace(**stand_ins)


def _load_real(importer: dict[str, Any], wanted: dict[str, tuple[str, ...]]) -> None:
    """Import the real cryptography and rebind every deferred name of `importer`."""
    for module, names in wanted.items():
        real = importlib.import_module(module)
        for name in names:
            importer[name] = getattr(real, name)


class _Deferred:
    """Stands for one cryptography name in a library module until it is first used."""

    def __init__(
        self, importer: dict[str, Any], wanted: dict[str, tuple[str, ...]], name: str
    ) -> None:
        self._importer = importer
        self._wanted = wanted
        self._name = name

    def _real(self) -> Any:
        _load_real(self._importer, self._wanted)
        return self._importer[self._name]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._real()(*args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._real(), attribute)
