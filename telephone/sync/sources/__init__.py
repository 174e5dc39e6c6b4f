"""Source types; importing this package registers all of them."""
import importlib
import pkgutil

# Every module in this package registers its source class with @register on import.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
