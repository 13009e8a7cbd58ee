"""The subcommands of ``handprop``: one module each, with ``register(subparsers)``.

A module registers its parser and sets ``run=`` to a function ``(args) -> int``. Heavy imports
(torch, torchvision, matplotlib) happen inside ``run``, so ``handprop --help`` stays fast.
"""
