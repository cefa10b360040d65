"""Module, Parameter and the containers (Sequential, ModuleList, ModuleDict): the bookkeeping every layer shares.

Assigning a Parameter or a Module to an attribute registers it, in assignment order, so that
`named_parameters()` and `state_dict()` produce PyTorch's dotted names ("0.weight", "encoder.bias").
Buffers (`register_buffer`) are state that is saved but not learned, such as BatchNorm's running mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from azuraforge_core.tensor import Array, Tensor


class Parameter(Tensor):
    """A Tensor that a Module learns: registered when assigned to a Module attribute."""

    def __init__(self, data: ArrayLike | Tensor, requires_grad: bool = True, dtype: DTypeLike | None = None):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer and model; subclasses call `super().__init__()` and define `forward`."""

    training: bool
    # Module types this one commutes with when it directly follows one of them in a Sequential, which then runs
    # this one first: the same results with less work. Declared by the exact class, since a subclass may compute
    # something else.
    commutes_after: ClassVar[tuple[type[Module], ...]] = ()
    _parameters: dict[str, Parameter]
    _modules: dict[str, Module]
    _buffers: dict[str, Array]

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    def register_buffer(self, name: str, array: Array) -> None:
        """Keep `array` as `self.<name>` and in state_dict, as torch's register_buffer; it gets no gradient.

        Layers update a buffer in place, so a state_dict loaded into it keeps the same array.
        """
        if name in self._parameters or name in self._modules:
            raise KeyError(f"cannot register buffer {name!r}: {type(self).__name__} already has a parameter or module")
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    def __setattr__(self, name: str, value: Any) -> None:
        parameters: dict[str, Parameter] | None = self.__dict__.get("_parameters")
        if parameters is None:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before setting {name!r}")
        modules: dict[str, Module] = self.__dict__["_modules"]
        if isinstance(value, Parameter):
            modules.pop(name, None)
            parameters[name] = value
        elif isinstance(value, Module):
            parameters.pop(name, None)
            modules[name] = value
        elif name in parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to parameter {name!r}: wrap it in nn.Parameter (or use None)"
                )
            del parameters[name]
        elif name in modules:
            del modules[name]
        elif name in self.__dict__["_buffers"]:
            self.__dict__["_buffers"][name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        object.__delattr__(self, name)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----- traversal -----------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module and every submodule, depth first, with dotted names ("" for this one)."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child}" if name else child, sub) for child, sub in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) in registration order; a shared Parameter appears once by default."""
        seen: set[int] = set()
        modules = self.named_modules(prefix, remove_duplicate) if recurse else iter([(prefix, self)])
        for module_name, module in modules:
            for name, parameter in module._parameters.items():
                if remove_duplicate:
                    if id(parameter) in seen:
                        continue
                    seen.add(id(parameter))
                yield (f"{module_name}.{name}" if module_name else name), parameter

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Array]]:
        for module_name, module in self.named_modules(prefix):
            for name, buffer in module._buffers.items():
                yield (f"{module_name}.{name}" if module_name else name), buffer

    def buffers(self) -> Iterator[Array]:
        for _, buffer in self.named_buffers():
            yield buffer

    # ----- state -----------------------------------------------------------------------------------
    def _state_arrays(self) -> dict[str, Array]:
        """The live array behind every state_dict key, in torch's order: each module's parameters, then its buffers."""
        arrays: dict[str, Array] = {}
        for module_name, module in self.named_modules(remove_duplicate=False):
            prefix = f"{module_name}." if module_name else ""
            arrays.update({prefix + name: p.data for name, p in module._parameters.items()})
            arrays.update({prefix + name: buffer for name, buffer in module._buffers.items()})
        return arrays

    def state_dict(self) -> dict[str, Array]:
        """Copies of every parameter's and buffer's array under PyTorch's key names and layouts."""
        return {name: array.copy() for name, array in self._state_arrays().items()}

    def load_state_dict(self, state_dict: Mapping[str, ArrayLike], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters in place (converted to each parameter's dtype).

        Raises ValueError naming every missing or unexpected key (when strict) and every shape mismatch;
        on error nothing is loaded.
        """
        own = self._state_arrays()
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        values = {key: np.asarray(state_dict[key]) for key in own if key in state_dict}
        problems = [
            f"{key}: expected shape {own[key].shape}, got {value.shape}"
            for key, value in values.items()
            if value.shape != own[key].shape
        ]
        if strict:
            if missing:
                problems.append(f"missing keys: {', '.join(missing)}")
            if unexpected:
                problems.append(f"unexpected keys: {', '.join(unexpected)}")
        if problems:
            raise ValueError(
                f"cannot load state_dict into {type(self).__name__}:\n  " + "\n  ".join(problems) + "\n"
                "keys and shapes must match model.state_dict() (pass strict=False to skip missing/unexpected keys)"
            )
        for key, value in values.items():
            np.copyto(own[key], value, casting="same_kind")
        return IncompatibleKeys(missing, unexpected)

    # ----- modes and gradients ----------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for parameter in self.parameters():
            parameter.grad = None

    # ----- printing ---------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", ... as in PyTorch."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential takes Modules, argument {index} is a {type(module).__name__}")
            setattr(self, str(index), module)

    def forward(self, x: Any) -> Any:
        modules = list(self._modules.values())
        k = 0
        while k < len(modules):
            module, following = modules[k], modules[k + 1] if k + 1 < len(modules) else None
            if following is not None and type(module) in type(following).__dict__.get("commutes_after", ()):
                x = module(following(x))
                k += 2
            else:
                x = module(x)
                k += 1
        return x

    def __getitem__(self, index: int | slice) -> Any:
        layers = list(self._modules.values())
        return Sequential(*layers[index]) if isinstance(index, slice) else layers[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ModuleList(Module):
    """A list of Modules registered as "0", "1", ... as in PyTorch; its owner decides how to call them."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList holds Modules, got a {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ModuleDict(Module):
    """Modules registered under string keys, in insertion order, as in PyTorch."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        for key, module in (modules or {}).items():
            self[key] = module

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict holds Modules, got a {type(module).__name__} under {key!r}")
        setattr(self, key, module)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()
